"use client";

import { useState, type FormEvent } from "react";
import { Field, FormProblems } from "@/components/Field";
import { OneTimeSecret } from "@/components/OneTimeSecret";
import { ConnectionView, PageHead } from "@/components/Page";
import { Empty, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { Role } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { formatDateTime, humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { ROLE_WORDS, atLeast, grantable } from "@/lib/roles";

const ApiKeysQuery = graphql(`
  query ApiKeys($first: Int, $after: String) {
    apiKeys(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        name
        role
        prefix
        createdAt
        lastUsedAt
        revokedAt
      }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      apiKey {
        id
        name
      }
      secret
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const RevokeApiKey = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(input: { id: $id }) {
      apiKey {
        id
        revokedAt
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

function NewKeyForm({ role, onCreated }: { role: Role; onCreated(name: string, secret: string): void }) {
  const [create, creating] = useMutation(CreateApiKey);
  const [name, setName] = useState("");
  const [keyRole, setKeyRole] = useState<Role>("VIEWER");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["name", "role"]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const payload = (await create({ input: { name: name.trim(), role: keyRole } })).createApiKey;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.apiKey && payload.secret) {
        onCreated(payload.apiKey.name, payload.secret);
        setName("");
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The key could not be created.");
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="new-key" noValidate>
      <h2 id="new-key">New API key</h2>
      <FormProblems failure={failure} messages={general} />
      <Field id="key-name" label="Name" hint="What uses it, e.g. the usage pipeline." error={at("name")}>
        <input id="key-name" required value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!at("name")} aria-describedby={describedBy("key-name", true, at("name"))} />
      </Field>
      <Field id="key-role" label="Role" hint="Give a key the weakest role that does its job." error={at("role")}>
        <select id="key-role" value={keyRole} onChange={(e) => setKeyRole(e.target.value as Role)} aria-describedby={describedBy("key-role", true, at("role"))}>
          {grantable(role).map((r) => (
            <option key={r} value={r}>
              {humanize(r)}: {ROLE_WORDS[r]}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" disabled={creating}>
        {creating ? "Creating…" : "Create API key"}
      </button>
    </form>
  );
}

function RevokeButton({ id, name, onDone }: { id: string; name: string; onDone(text: string, tone: "success" | "error"): void }) {
  const [revoke, revoking] = useMutation(RevokeApiKey);
  const [confirming, setConfirming] = useState(false);
  return (
    <div className="actions">
      <button type="button" className="secondary" aria-expanded={confirming} aria-controls={`revoke-${id}`} onClick={() => setConfirming((c) => !c)}>
        Revoke…<span className="visually-hidden"> {name}</span>
      </button>
      {confirming ? (
        <div id={`revoke-${id}`} className="confirm" role="group" aria-label={`Confirm revoking ${name}`}>
          <span>Revoke “{name}”? Requests with it are refused at once. This cannot be undone.</span>
          <button
            type="button"
            className="danger"
            disabled={revoking}
            onClick={async () => {
              try {
                const payload = (await revoke({ id })).revokeApiKey;
                if (payload.userErrors.length) onDone(payload.userErrors.map((e) => e.message).join(" "), "error");
                else onDone(`The key “${name}” is revoked.`, "success");
              } catch (error) {
                onDone(error instanceof ApiError ? error.message : "The key could not be revoked.", "error");
              }
            }}
          >
            {revoking ? "Revoking…" : "Revoke key"}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : null}
    </div>
  );
}

export default function ApiKeysPage() {
  const role = useRole();
  const isAdmin = atLeast(role, "ADMIN");
  const pager = useCursorPager();
  const { data, error, loading, refetch } = useQuery(ApiKeysQuery, { first: 25, after: pager.after }, { skip: !isAdmin });
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [outcome, setOutcome] = useState<{ text: string; tone: "success" | "error" } | null>(null);
  const connection = data?.apiKeys;
  return (
    <>
      <PageHead title="API keys" />
      <p className="muted">
        For your systems: send <code>Authorization: Bearer &lt;key&gt;</code> with each request. A key acts with its role, and only its
        first characters are kept to tell keys apart.
      </p>
      {!role ? <Loading what="your role" /> : null}
      {role && !isAdmin ? <Empty>API keys are managed by administrators of your organization.</Empty> : null}
      {created ? <OneTimeSecret label={`API key “${created.name}”`} secret={created.secret} onDismiss={() => setCreated(null)} /> : null}
      {outcome ? (
        <p className={`notice ${outcome.tone}`} role={outcome.tone === "error" ? "alert" : "status"}>
          {outcome.text}
        </p>
      ) : null}
      {isAdmin ? (
        <ConnectionView
          connection={connection}
          state={{ error, loading, refetch }}
          what="API keys"
          noun="keys"
          failed="the API keys"
          empty="No API keys yet: create one below."
          pager={pager}
        >
          {(nodes) => (
            <Table caption="API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Starts with</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td className="mono">{k.prefix}…</td>
                    <td>{humanize(k.role)}</td>
                    <td>{formatDateTime(k.createdAt)}</td>
                    <td>{k.lastUsedAt ? formatDateTime(k.lastUsedAt) : "never"}</td>
                    <td>
                      {k.revokedAt ? (
                        <span className="muted">Revoked {formatDateTime(k.revokedAt)}</span>
                      ) : (
                        <RevokeButton
                          id={k.id}
                          name={k.name}
                          onDone={(text, tone) => {
                            setOutcome({ text, tone });
                            refetch();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </ConnectionView>
      ) : null}
      {isAdmin && role ? (
        <NewKeyForm
          role={role}
          onCreated={(name, secret) => {
            setOutcome(null);
            setCreated({ name, secret });
            refetch();
          }}
        />
      ) : null}
    </>
  );
}
