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
  const { login, session, endedReason } = useAuth();
  const router = useRouter();
  const next = safeNext(useSearchParams().get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [organizationId, setOrganizationId] = useState("");
  const [askOrganization, setAskOrganization] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (session) router.replace(next);
  }, [session, next, router]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      const found = await login(email.trim(), password, askOrganization ? organizationId.trim() : undefined);
      setErrors(found);
      if (found.some((e) => e.code === "ORGANIZATION_REQUIRED")) setAskOrganization(true);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The sign-in did not succeed.");
    } finally {
      setBusy(false);
    }
  }

  const general = errors.filter((e) => e.code !== "ORGANIZATION_REQUIRED");
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
        {general.length || failure ? (
          <div className="notice error" role="alert">
            {failure ? <p>{failure}</p> : null}
            {general.map((e) => (
              <p key={e.code + e.message}>{e.message}</p>
            ))}
          </div>
        ) : null}
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
