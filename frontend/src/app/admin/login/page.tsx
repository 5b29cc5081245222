"use client";

import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useEffect, useState, type FormEvent } from "react";
import { ThemeSelect } from "@/components/ThemeSelect";
import { useAuth, type UserError } from "@/lib/auth";
import { ApiError } from "@/lib/graphql";

function safeNext(value: string | null): string {
  // Only our own admin pages: never an open redirect.
  return value && value.startsWith("/admin") && !value.startsWith("/admin/login") ? value : "/admin";
}

function LoginForm() {
  const { login, completeLogin, session, endedReason } = useAuth();
  const router = useRouter();
  const next = safeNext(useSearchParams().get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [organizationId, setOrganizationId] = useState("");
  const [askOrganization, setAskOrganization] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A password that was right for a user with a second factor: the challenge, until a code is accepted.
  const [challenge, setChallenge] = useState<string | null>(null);
  const [useRecovery, setUseRecovery] = useState(false);
  const [code, setCode] = useState("");

  useEffect(() => {
    if (session) router.replace(next);
  }, [session, next, router]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      const result = await login(email.trim(), password, askOrganization ? organizationId.trim() : undefined);
      setErrors(result.errors);
      if (result.errors.some((e) => e.code === "ORGANIZATION_REQUIRED")) setAskOrganization(true);
      if (result.challenge) {
        setChallenge(result.challenge);
        setPassword("");
        setCode("");
        setUseRecovery(false);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The sign-in did not succeed.");
    } finally {
      setBusy(false);
    }
  }

  async function verify(event: FormEvent) {
    event.preventDefault();
    if (!challenge) return;
    setBusy(true);
    setFailure(null);
    try {
      const found = await completeLogin(challenge, useRecovery ? { recoveryCode: code.trim() } : { code: code.trim() });
      setErrors(found);
      if (found.some((e) => e.code === "INVALID_CHALLENGE")) setChallenge(null);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The sign-in did not succeed.");
    } finally {
      setBusy(false);
    }
  }

  function startOver() {
    setChallenge(null);
    setErrors([]);
    setFailure(null);
    setCode("");
  }

  const general = errors.filter((e) => e.code !== "ORGANIZATION_REQUIRED");
  const problems =
    general.length || failure ? (
      <div className="notice error" role="alert">
        {failure ? <p>{failure}</p> : null}
        {general.map((e) => (
          <p key={e.code + e.message}>{e.message}</p>
        ))}
      </div>
    ) : null;
  if (challenge) {
    return (
      <main id="main" className="login">
        <title>Second factor · ValueVerse Billing</title>
        <h1>Confirm it is you</h1>
        <form className="panel" onSubmit={verify} noValidate aria-describedby="factor-hint">
          {problems}
          <div className="field">
            <label htmlFor="code">{useRecovery ? "Recovery code" : "Authentication code"}</label>
            <span className="hint" id="factor-hint">
              {useRecovery
                ? "One of the recovery codes you saved when you turned on the second factor. Each works once."
                : "The 6-digit code your authenticator app shows for ValueVerse Billing now."}
            </span>
            <input
              key={useRecovery ? "recovery" : "totp"}
              id="code"
              aria-describedby="factor-hint"
              autoComplete="one-time-code"
              inputMode={useRecovery ? "text" : "numeric"}
              pattern={useRecovery ? undefined : "[0-9 ]*"}
              maxLength={useRecovery ? 24 : 7}
              autoFocus
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          </div>
          <button type="submit" disabled={busy || !code.trim()}>
            {busy ? "Checking…" : "Verify and sign in"}
          </button>
          <p className="actions">
            <button
              type="button"
              className="link"
              onClick={() => {
                setUseRecovery(!useRecovery);
                setCode("");
                setErrors([]);
              }}
            >
              {useRecovery ? "Use a code from the authenticator app" : "Use a recovery code"}
            </button>{" "}
            <button type="button" className="link" onClick={startOver}>
              Start over
            </button>
          </p>
        </form>
        <ThemeSelect />
      </main>
    );
  }
  return (
    <main id="main" className="login">
      <title>Sign in · ValueVerse Billing</title>
      <h1>Sign in to the admin portal</h1>
      {endedReason ? (
        <p className="notice info" role="status">
          {endedReason}
        </p>
      ) : null}
      <form className="panel" onSubmit={submit} noValidate>
        {problems}
        <div className="field">
          <label htmlFor="email">Email</label>
          <input
            id="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        {askOrganization ? (
          <div className="field">
            <label htmlFor="organization">Organization id</label>
            <span className="hint" id="organization-hint">
              This email belongs to several organizations: give the id of the one to sign in to.
            </span>
            <input
              id="organization"
              aria-describedby="organization-hint"
              required
              value={organizationId}
              onChange={(e) => setOrganizationId(e.target.value)}
            />
          </div>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="muted">
        Staff accounts are created by an administrator (or with <code>valueverse create-user</code>).
      </p>
      <ThemeSelect />
    </main>
  );
}

export default function LoginPage() {
  return (
    <Suspense fallback={<p role="status">Loading…</p>}>
      <LoginForm />
    </Suspense>
  );
}
