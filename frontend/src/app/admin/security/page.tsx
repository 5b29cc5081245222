"use client";

import { useState, type FormEvent } from "react";
import { ErrorNotice, Loading } from "@/components/States";
import { graphql } from "@/gql";
import { useAuth, type UserError } from "@/lib/auth";
import { formatDateTime } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";

const SecurityQuery = graphql(`
  query Security {
    viewer {
      kind
      secondFactor {
        enabled
        enabledAt
        pending
        recoveryCodesLeft
      }
    }
  }
`);

const StartEnrolment = graphql(`
  mutation StartSecondFactorEnrolment {
    startSecondFactorEnrolment {
      secret
      otpauthUri
      qrCodeSvg
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ConfirmEnrolment = graphql(`
  mutation ConfirmSecondFactorEnrolment($input: SecondFactorCodeInput!) {
    confirmSecondFactorEnrolment(input: $input) {
      recoveryCodes
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const RegenerateCodes = graphql(`
  mutation RegenerateRecoveryCodes($input: SecondFactorCodeInput!) {
    regenerateRecoveryCodes(input: $input) {
      recoveryCodes
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const DisableFactor = graphql(`
  mutation DisableSecondFactor($input: DisableSecondFactorInput!) {
    disableSecondFactor(input: $input) {
      secondFactor {
        enabled
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Enrolment = { secret: string; otpauthUri: string; qrCodeSvg: string };

function Problems({ errors, failure }: { errors: UserError[]; failure: string | null }) {
  if (!errors.length && !failure) return null;
  return (
    <div className="notice error" role="alert">
      {failure ? <p>{failure}</p> : null}
      {errors.map((e) => (
        <p key={e.code + e.message}>{e.message}</p>
      ))}
    </div>
  );
}

function failureOf(error: unknown): string {
  return error instanceof ApiError ? error.message : "That did not work. Try again.";
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <section className="panel" aria-labelledby="codes-title">
      <h2 id="codes-title">Your recovery codes</h2>
      <p className="notice warn" role="status">
        Save these codes somewhere safe now: they are shown only this once. Each one signs you in once if you lose
        your authenticator app.
      </p>
      <ol className="recovery-codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <p className="actions">
        <button type="button" className="secondary" onClick={() => void navigator.clipboard?.writeText(codes.join("\n"))}>
          Copy the codes
        </button>
        <button type="button" onClick={onDone}>
          I have saved them
        </button>
      </p>
    </section>
  );
}

function CodeField({ id, label, hint, value, onChange, recovery }: {
  id: string;
  label: string;
  hint: string;
  value: string;
  onChange: (v: string) => void;
  recovery?: boolean;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <span className="hint" id={`${id}-hint`}>
        {hint}
      </span>
      <input
        id={id}
        aria-describedby={`${id}-hint`}
        autoComplete="one-time-code"
        inputMode={recovery ? "text" : "numeric"}
        maxLength={recovery ? 24 : 7}
        required
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

export default function SecurityPage() {
  const { session } = useAuth();
  const status = useQuery(SecurityQuery, {});
  const [start, starting] = useMutation(StartEnrolment);
  const [confirm, confirming] = useMutation(ConfirmEnrolment);
  const [regenerate, regenerating] = useMutation(RegenerateCodes);
  const [disable, disabling] = useMutation(DisableFactor);
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState("");
  const [offCode, setOffCode] = useState("");
  const [offWithRecovery, setOffWithRecovery] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  function reset() {
    setErrors([]);
    setFailure(null);
    setDone(null);
  }

  async function begin() {
    reset();
    try {
      const result = (await start({})).startSecondFactorEnrolment;
      setErrors(result.userErrors);
      if (result.secret && result.otpauthUri && result.qrCodeSvg) {
        setEnrolment({ secret: result.secret, otpauthUri: result.otpauthUri, qrCodeSvg: result.qrCodeSvg });
        setCode("");
      }
    } catch (error) {
      setFailure(failureOf(error));
    }
  }

  async function finish(event: FormEvent) {
    event.preventDefault();
    reset();
    try {
      const result = (await confirm({ input: { code: code.trim() } })).confirmSecondFactorEnrolment;
      setErrors(result.userErrors);
      if (result.recoveryCodes) {
        setEnrolment(null);
        setCodes(result.recoveryCodes);
        setDone("The second factor is on: from now on, signing in asks for a code after your password.");
        status.refetch();
      }
    } catch (error) {
      setFailure(failureOf(error));
    }
  }

  async function newCodes(event: FormEvent) {
    event.preventDefault();
    reset();
    try {
      const result = (await regenerate({ input: { code: offCode.trim() } })).regenerateRecoveryCodes;
      setErrors(result.userErrors);
      if (result.recoveryCodes) {
        setCodes(result.recoveryCodes);
        setOffCode("");
        status.refetch();
      }
    } catch (error) {
      setFailure(failureOf(error));
    }
  }

  async function turnOff(event: FormEvent) {
    event.preventDefault();
    reset();
    try {
      const input = offWithRecovery ? { recoveryCode: offCode.trim() } : { code: offCode.trim() };
      const result = (await disable({ input })).disableSecondFactor;
      setErrors(result.userErrors);
      if (!result.userErrors.length) {
        setOffCode("");
        setDone("The second factor is off: signing in asks for your password only.");
        status.refetch();
      }
    } catch (error) {
      setFailure(failureOf(error));
    }
  }

  const factor = status.data?.viewer?.secondFactor;
  return (
    <>
      <title>Security · ValueVerse Billing</title>
      <h1>Security</h1>
      <p className="muted">Signed in as {session?.email}.</p>
      {done ? (
        <p className="notice success" role="status">
          {done}
        </p>
      ) : null}
      <Problems errors={errors} failure={failure} />
      {codes ? <RecoveryCodes codes={codes} onDone={() => setCodes(null)} /> : null}
      <section className="panel" aria-labelledby="second-factor-title">
        <h2 id="second-factor-title">Second factor (authenticator app)</h2>
        {status.error ? <ErrorNotice error={status.error} onRetry={status.refetch} what="your second factor" /> : null}
        {status.loading && !status.data ? <Loading what="your second factor" /> : null}
        {status.data && !factor ? <p>Only a staff user signed in with a password has a second factor.</p> : null}
        {factor && factor.enabled ? (
          <>
            <p>
              <span className="badge ok">On</span> since {formatDateTime(factor.enabledAt)}.{" "}
              {factor.recoveryCodesLeft} of 10 recovery codes left.
            </p>
            <form onSubmit={turnOff} noValidate className="stack">
              <CodeField
                id="off-code"
                label={offWithRecovery ? "Recovery code" : "Authentication code"}
                hint={
                  offWithRecovery
                    ? "One of your unused recovery codes."
                    : "The 6-digit code your authenticator app shows now."
                }
                value={offCode}
                onChange={setOffCode}
                recovery={offWithRecovery}
              />
              <p className="actions">
                <button type="submit" className="danger" disabled={disabling || !offCode.trim()}>
                  {disabling ? "Turning off…" : "Turn off the second factor"}
                </button>
                {!offWithRecovery ? (
                  <button
                    type="button"
                    className="secondary"
                    disabled={regenerating || !offCode.trim()}
                    onClick={(e) => void newCodes(e)}
                  >
                    {regenerating ? "Making new codes…" : "New recovery codes"}
                  </button>
                ) : null}
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    setOffWithRecovery(!offWithRecovery);
                    setOffCode("");
                  }}
                >
                  {offWithRecovery ? "Use a code from the app" : "Use a recovery code"}
                </button>
              </p>
            </form>
          </>
        ) : null}
        {factor && !factor.enabled ? (
          enrolment ? (
            <form onSubmit={finish} noValidate className="stack" aria-labelledby="enrol-title">
              <h3 id="enrol-title">Scan the QR code with your authenticator app</h3>
              <img className="qr" src={enrolment.qrCodeSvg} alt="QR code of your second-factor secret" width={220} height={220} />
              <p>
                Or type this secret into the app (shown only now):{" "}
                <code className="secret" data-testid="secret">
                  {enrolment.secret}
                </code>
              </p>
              <CodeField
                id="confirm-code"
                label="Authentication code"
                hint="Then type the 6-digit code the app shows, to prove it is set up."
                value={code}
                onChange={setCode}
              />
              <p className="actions">
                <button type="submit" disabled={confirming || !code.trim()}>
                  {confirming ? "Checking…" : "Turn on the second factor"}
                </button>
                <button type="button" className="secondary" onClick={() => setEnrolment(null)}>
                  Cancel
                </button>
              </p>
            </form>
          ) : (
            <>
              <p>
                <span className="badge">Off</span> Signing in asks for your password only. With a second
                factor, it also asks for a code from an authenticator app on your phone.
              </p>
              <button type="button" onClick={() => void begin()} disabled={starting}>
                {starting ? "Starting…" : "Set up a second factor"}
              </button>
            </>
          )
        ) : null}
      </section>
    </>
  );
}
