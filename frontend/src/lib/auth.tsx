"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { Client } from "graphql-ws";
import { graphql } from "@/gql";
import type { Role } from "@/gql/graphql";
import { ApiError, execute, liveClient, type LiveStatus } from "./graphql";
import { renewalAt, shouldRenew } from "./sessionRenewal";

// The staff session: the token lives in memory and in sessionStorage (this tab only, gone when the tab
// closes), never in localStorage or a cookie. Logging out forgets it at once.
const STORAGE_KEY = "valueverse.admin.session";

const LoginMutation = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      token
      expiresAt
      secondFactorRequired
      challenge
      user {
        id
        email
        name
        role
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const CompleteLoginMutation = graphql(`
  mutation CompleteLogin($input: CompleteLoginInput!) {
    completeLogin(input: $input) {
      token
      expiresAt
      user {
        id
        email
        name
        role
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const RefreshSessionMutation = graphql(`
  mutation RefreshSession {
    refreshSession {
      token
      expiresAt
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ViewerQuery = graphql(`
  query Viewer {
    viewer {
      kind
      name
      role
      organization {
        id
        name
        defaultCurrency
        timezone
      }
    }
  }
`);

export type Session = { token: string; expiresAt: string; email: string; name: string; role: Role };
export type Viewer = {
  name: string;
  role: Role;
  organization: { id: string; name: string; defaultCurrency: string; timezone: string };
};
export type UserError = { field?: string[] | null; code: string; message: string };
/** What a password sign-in gave: errors, or a challenge for the second factor (no session yet), or neither. */
export type LoginResult = { errors: UserError[]; challenge: string | null };
export type SecondFactor = { code: string } | { recoveryCode: string };

export type AuthState = {
  ready: boolean;
  session: Session | null;
  viewer: Viewer | null;
  /** Why the last session ended (expired, refused), shown on the sign-in page. */
  endedReason: string | null;
  login(email: string, password: string, organizationId?: string): Promise<LoginResult>;
  /** The second step of a challenged sign-in: a code from the authenticator app, or a recovery code. */
  completeLogin(challenge: string, factor: SecondFactor): Promise<UserError[]>;
  logout(reason?: string): void;
  live(): Client | null;
  liveStatus: LiveStatus | null;
};

const AuthContext = createContext<AuthState | null>(null);

// What counts as the user doing something, for keeping the session alive.
const ACTIVITY = ["pointerdown", "keydown", "wheel", "touchstart"] as const;

function readStored(): Session | null {
  try {
    const raw = window.sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    if (!session.token || new Date(session.expiresAt).getTime() <= Date.now()) {
      window.sessionStorage.removeItem(STORAGE_KEY);
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const [session, setSession] = useState<Session | null>(null);
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [endedReason, setEndedReason] = useState<string | null>(null);
  const [liveStatus, setLiveStatus] = useState<LiveStatus | null>(null);
  const clientRef = useRef<Client | null>(null);
  // When the session's current token was issued (or read back after a reload), and the user's last action while
  // signed in (the renewal's listener below).
  const issuedRef = useRef(0);
  const activityRef = useRef(0);
  const [renewals, setRenewals] = useState(0);

  useEffect(() => {
    issuedRef.current = Date.now();
    setSession(readStored());
    setReady(true);
  }, []);

  const logout = useCallback((reason?: string) => {
    window.sessionStorage.removeItem(STORAGE_KEY);
    clientRef.current?.dispose();
    clientRef.current = null;
    setLiveStatus(null);
    setSession(null);
    setViewer(null);
    setEndedReason(reason ?? null);
  }, []);

  // The session ends at its expiry even if the tab stays open.
  useEffect(() => {
    if (!session) return;
    const left = new Date(session.expiresAt).getTime() - Date.now();
    const timer = window.setTimeout(() => logout("Your session expired. Sign in again."), Math.max(left, 0));
    return () => window.clearTimeout(timer);
  }, [session, renewals, logout]);

  // A session in use lives on (lib/sessionRenewal.ts): halfway through its life, if the user did something since,
  // refreshSession gives it a new expiry and token. The token is replaced in the same session object, so that pages
  // keep their state and read the new one with their next request; the live connection reconnects with it.
  useEffect(() => {
    if (!session) return;
    let ended = false;
    let waiting = false;
    const renew = async () => {
      const expiresAt = new Date(session.expiresAt).getTime();
      if (ended || !shouldRenew(Date.now(), issuedRef.current, expiresAt, activityRef.current)) {
        waiting = !ended && Date.now() < expiresAt; // asked again at the user's next action
        return;
      }
      waiting = false;
      try {
        const payload = (await execute(RefreshSessionMutation, {}, session.token)).refreshSession;
        if (ended || !payload.token || !payload.expiresAt) return; // at its longest life: it ends at its expiry
        session.token = payload.token;
        session.expiresAt = payload.expiresAt;
        issuedRef.current = Date.now();
        window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
        clientRef.current?.terminate(); // not fatal: graphql-ws reconnects, with the new token, and resubscribes
        setRenewals((n) => n + 1);
      } catch {
        waiting = !ended; // the network or the server: asked again at the user's next action
      }
    };
    const onActivity = () => {
      activityRef.current = Date.now();
      if (waiting) void renew();
    };
    const due = renewalAt(issuedRef.current, new Date(session.expiresAt).getTime()) - Date.now();
    const timer = window.setTimeout(() => void renew(), Math.max(due, 0));
    for (const kind of ACTIVITY) window.addEventListener(kind, onActivity, { passive: true, capture: true });
    return () => {
      ended = true;
      window.clearTimeout(timer);
      for (const kind of ACTIVITY) window.removeEventListener(kind, onActivity, { capture: true });
    };
  }, [session, renewals]);

  // Who we are now (the role may have changed since the login).
  useEffect(() => {
    if (!session) return;
    const controller = new AbortController();
    execute(ViewerQuery, {}, session.token, controller.signal).then(
      (data) => {
        if (data.viewer) setViewer(data.viewer as Viewer);
        else logout("Your session has ended. Sign in again.");
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.kind === "unauthenticated") logout("Your session has ended. Sign in again.");
      },
    );
    return () => controller.abort();
  }, [session, logout]);

  const begin = useCallback(
    (payload: {
      token?: string | null;
      expiresAt?: string | null;
      user?: { email: string; name: string; role: Role } | null;
      userErrors: UserError[];
    }): UserError[] => {
      if (payload.userErrors.length || !payload.token || !payload.user || !payload.expiresAt) {
        return payload.userErrors.length
          ? payload.userErrors
          : [{ code: "LOGIN_FAILED", message: "The sign-in did not succeed.", field: null }];
      }
      const next: Session = {
        token: payload.token,
        expiresAt: payload.expiresAt,
        email: payload.user.email,
        name: payload.user.name,
        role: payload.user.role,
      };
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
      issuedRef.current = Date.now();
      setEndedReason(null);
      setSession(next);
      return [];
    },
    [],
  );

  const login = useCallback(
    async (email: string, password: string, organizationId?: string): Promise<LoginResult> => {
      const data = await execute(
        LoginMutation,
        { input: { email, password, organizationId: organizationId || null } },
        null,
      );
      const payload = data.login;
      if (payload.secondFactorRequired && payload.challenge && !payload.userErrors.length) {
        return { errors: [], challenge: payload.challenge };
      }
      return { errors: begin(payload), challenge: null };
    },
    [begin],
  );

  const completeLogin = useCallback(
    async (challenge: string, factor: SecondFactor): Promise<UserError[]> => {
      const data = await execute(CompleteLoginMutation, { input: { challenge, ...factor } }, null);
      return begin(data.completeLogin);
    },
    [begin],
  );

  const live = useCallback(() => {
    if (!session) return null;
    if (!clientRef.current) {
      // Only the current connection reports its state (a disposed one still says "closed" once).
      const client: Client = liveClient(() => session.token, (status) => {
        if (clientRef.current === client) setLiveStatus(status);
      });
      clientRef.current = client;
    }
    return clientRef.current;
  }, [session]);

  useEffect(
    () => () => {
      void clientRef.current?.dispose();
    },
    [],
  );

  const value = useMemo<AuthState>(
    () => ({ ready, session, viewer, endedReason, login, completeLogin, logout, live, liveStatus }),
    [ready, session, viewer, endedReason, login, completeLogin, logout, live, liveStatus],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

/** Credentials that come some other way than the sign-in (the customer portal's link), for the same hooks. */
export function CredentialsProvider({ value, children }: { value: AuthState; children: ReactNode }) {
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}

/** The caller's role: the viewer's once known, else the one the login returned. */
export function useRole(): Role | undefined {
  const { viewer, session } = useAuth();
  return viewer?.role ?? session?.role;
}
