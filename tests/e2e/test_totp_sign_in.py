"""The staff second factor in a real browser: enrol on the Security page (QR code, secret, confirm with a code,
recovery codes shown once), then sign in with a code from the app (computed here with pyotp) or a recovery
code; wrong codes are said in words. Light and dark, without serious accessibility violations."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
from playwright.async_api import Browser, Page, expect

from tests.client import Api
from tests.e2e.conftest import DESKTOP, new_context, serious_violations
from tests.e2e.seed import PASSWORD, Tenant
from tests.stack import Stack

CREATE_USER = """mutation($input: CreateStaffUserInput!) { createStaffUser(input: $input) {
  staffUser { id } userErrors { code } } }"""


def wrong_code(totp: pyotp.TOTP) -> str:
    """Six digits that no step of the window (now, and one either side) gives."""
    taken = {totp.at(time.time() + 30 * k) for k in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in taken)


async def password_step(page: Page, email: str) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_totp_enrol_then_sign_in_with_a_code_and_with_a_recovery_code(
    browser: Browser, stack: Stack, shop: Tenant, axe_source: str
) -> None:
    email = f"second-{uuid.uuid4().hex[:8]}@acme.example"
    created = await Api(stack.graphql_url, shop.api_key)(
        CREATE_USER, input={"email": email, "password": PASSWORD, "role": "VIEWER", "name": "Sam Second"}
    )
    assert created["createStaffUser"]["userErrors"] == []
    context, offline = await new_context(browser, stack, viewport=DESKTOP, color_scheme="dark")
    page = await context.new_page()
    violations: dict[str, list[str]] = {}

    await password_step(page, email)
    await page.wait_for_url("**/admin")
    await page.get_by_role("link", name="Security").click()
    await page.wait_for_url("**/admin/security")
    await expect(page.get_by_role("heading", name="Security", level=1)).to_be_visible()
    await page.get_by_role("button", name="Set up a second factor").click()
    qr = page.get_by_role("img", name="QR code of your second-factor secret")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    secret = (await page.get_by_test_id("secret").inner_text()).strip()
    totp = pyotp.TOTP(secret)
    if found := await serious_violations(page, axe_source):
        violations["enrolment"] = found
    await page.get_by_label("Authentication code").fill(wrong_code(totp))
    await page.get_by_role("button", name="Turn on the second factor").click()
    await expect(page.locator(".notice.error")).to_contain_text("the code is wrong")
    await page.get_by_label("Authentication code").fill(totp.now())
    await page.get_by_role("button", name="Turn on the second factor").click()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    await expect(codes).to_have_count(10)
    recovery = [c.strip() for c in await codes.all_inner_texts()]
    await expect(page.get_by_text("shown only this once")).to_be_visible()
    await page.get_by_role("button", name="I have saved them").click()
    await expect(codes).to_have_count(0)
    await expect(page.get_by_text("10 of 10 recovery codes left")).to_be_visible()

    # Signing in now asks for a code after the password.
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/admin/login*")
    await password_step(page, email)
    await expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    code_field = page.get_by_label("Authentication code")
    await expect(code_field).to_be_focused()
    if found := await serious_violations(page, axe_source):
        violations["challenge"] = found
    await code_field.fill(wrong_code(totp))
    await code_field.press("Enter")
    await expect(page.locator(".notice.error")).to_contain_text("the code is wrong")
    # The code that turned the factor on is spent; the next step's is within the accepted drift.
    await code_field.fill(totp.at(time.time() + 30))
    await page.get_by_role("button", name="Verify and sign in").click()
    await page.wait_for_url("**/admin")
    await expect(page.get_by_role("navigation", name="Admin sections")).to_contain_text("Security")

    # Without the phone: a recovery code, once.
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/admin/login*")
    await password_step(page, email)
    await page.get_by_role("button", name="Use a recovery code").click()
    await page.get_by_label("Recovery code").fill(recovery[0])
    await page.get_by_role("button", name="Verify and sign in").click()
    await page.wait_for_url("**/admin")
    await page.goto("/admin/security")
    await expect(page.get_by_text("9 of 10 recovery codes left")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/admin/login*")
    await password_step(page, email)
    await page.get_by_role("button", name="Use a recovery code").click()
    await page.get_by_label("Recovery code").fill(recovery[0])
    await page.get_by_role("button", name="Verify and sign in").click()
    await expect(page.locator(".notice.error")).to_contain_text(re.compile("used already|wrong"))
    await context.close()
    assert offline.foreign == [], offline.foreign
    assert violations == {}, violations


async def test_an_admin_resets_a_users_lost_second_factor_from_the_staff_page(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    from tests.e2e.conftest import sign_in

    email = f"lost-{uuid.uuid4().hex[:8]}@acme.example"
    api = Api(stack.graphql_url, shop.api_key)
    created = await api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": "VIEWER"})
    assert created["createStaffUser"]["userErrors"] == []
    login = "mutation($i: LoginInput!) { login(input: $i) { token } }"
    signed_in = await Api(stack.graphql_url)(login, i={"email": email, "password": PASSWORD})
    me = Api(stack.graphql_url, signed_in["login"]["token"])
    secret = (await me("mutation { startSecondFactorEnrolment { secret } }"))["startSecondFactorEnrolment"]["secret"]
    confirmed = await me("mutation($c: String!) { confirmSecondFactorEnrolment(input: {code: $c}) { userErrors "
                         "{ code } } }", c=pyotp.TOTP(secret).now())
    assert confirmed["confirmSecondFactorEnrolment"]["userErrors"] == []

    context, offline = await new_context(browser, stack, viewport=DESKTOP, color_scheme="light")
    page = await context.new_page()
    await sign_in(page, shop)
    await page.goto("/admin/staff")
    row = page.get_by_role("row").filter(has_text=email)
    await expect(row).to_contain_text("On")
    await row.get_by_role("button", name=f"Reset second factor… of {email}").click()
    confirm = row.get_by_role("group", name=f"Confirm resetting the second factor of {email}")
    await expect(confirm).to_contain_text("every session of theirs ends")
    await confirm.get_by_role("button", name="Reset second factor").click()
    await expect(page.get_by_role("status")).to_contain_text(f"The second factor of {email} is removed")
    await expect(row).to_contain_text("Off")
    await expect(row.get_by_role("button", name=f"Reset second factor… of {email}")).to_have_count(0)
    await context.close()
    assert offline.foreign == [], offline.foreign
    # They sign in with the password alone now.
    again = await Api(stack.graphql_url)(
        "mutation($i: LoginInput!) { login(input: $i) { token secondFactorRequired } }",
        i={"email": email, "password": PASSWORD},
    )
    assert again["login"]["token"] and again["login"]["secondFactorRequired"] is False
