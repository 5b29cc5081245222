"use client";

import { useState, type FormEvent } from "react";
import { ConfirmAction } from "@/components/ConfirmAction";
import { Field, FormProblems } from "@/components/Field";
import { Pager } from "@/components/Pager";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { PageHead } from "@/components/Page";
import { graphql } from "@/gql";
import type { Role } from "@/gql/graphql";
import { useAuth, useRole, type UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { formatDateTime, humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { ROLE_WORDS, atLeast, grantable } from "@/lib/roles";

const StaffQuery = graphql(`
  query StaffUsers($first: Int, $after: String) {
    staffUsers(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        email
        name
        role
        active
        secondFactorEnabled
        createdAt
      }
    }
  }
`);

const CreateStaffUser = graphql(`
  mutation CreateStaffUser($input: CreateStaffUserInput!) {
    createStaffUser(input: $input) {
      staffUser {
        id
        email
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ChangeRole = graphql(`
  mutation ChangeStaffUserRole($id: ID!, $role: Role!) {
    changeStaffUserRole(input: { id: $id, role: $role }) {
      staffUser {
        id
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

const DisableUser = graphql(`
  mutation DisableStaffUser($id: ID!) {
    disableStaffUser(input: { id: $id }) {
      staffUser {
        id
        active
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const EnableUser = graphql(`
  mutation EnableStaffUser($id: ID!) {
    enableStaffUser(input: { id: $id }) {
      staffUser {
        id
        active
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ResetSecondFactor = graphql(`
  mutation ResetStaffUserSecondFactor($id: ID!) {
    resetStaffUserSecondFactor(input: { staffUserId: $id }) {
      staffUser {
        id
        secondFactorEnabled
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Notify = (text: string, tone: "success" | "error") => void;
type Payload = { userErrors: { message: string }[] };

async function report(run: () => Promise<Payload>, done: string, notify: Notify) {
  try {
    const payload = await run();
    if (payload.userErrors.length) notify(payload.userErrors.map((e) => e.message).join(" "), "error");
    else notify(done, "success");
  } catch (error) {
    notify(error instanceof ApiError ? error.message : "The change failed.", "error");
  }
}

function NewUserForm({ role, onCreated }: { role: Role; onCreated(email: string): void }) {
  const [create, creating] = useMutation(CreateStaffUser);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [userRole, setUserRole] = useState<Role>("VIEWER");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["email", "name", "password", "role"]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const payload = (await create({ input: { email: email.trim(), name: name.trim(), password, role: userRole } })).createStaffUser;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.staffUser) {
        onCreated(payload.staffUser.email);
        setEmail("");
        setName("");
        setPassword("");
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The user could not be added.");
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="new-user" noValidate autoComplete="off">
      <h2 id="new-user">Add a staff user</h2>
      <FormProblems failure={failure} messages={general} />
      <Field id="user-email" label="Email" error={at("email")}>
        <input id="user-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={!!at("email")} aria-describedby={describedBy("user-email", false, at("email"))} />
      </Field>
      <Field id="user-name" label="Name" error={at("name")}>
        <input id="user-name" value={name} onChange={(e) => setName(e.target.value)} aria-describedby={describedBy("user-name", false, at("name"))} />
      </Field>
      <Field id="user-password" label="First password" hint="At least 10 characters; tell it to them another way than email." error={at("password")}>
        <input
          id="user-password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={!!at("password")}
          aria-describedby={describedBy("user-password", true, at("password"))}
        />
      </Field>
      <Field id="user-role" label="Role" error={at("role")}>
        <select id="user-role" value={userRole} onChange={(e) => setUserRole(e.target.value as Role)} aria-describedby={describedBy("user-role", false, at("role"))}>
          {grantable(role).map((r) => (
            <option key={r} value={r}>
              {humanize(r)}: {ROLE_WORDS[r]}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" disabled={creating}>
        {creating ? "Adding…" : "Add staff user"}
      </button>
    </form>
  );
}

type User = { id: string; email: string; role: Role; active: boolean; secondFactorEnabled: boolean };

/** An admin takes away another user's authenticator app (a lost phone, no recovery code left), after a confirmation. */
function ResetSecondFactorAction({ user, notify }: { user: User; notify: Notify }) {
  const [reset, resetting] = useMutation(ResetSecondFactor);
  return (
    <ConfirmAction
      id={`reset-2fa-${user.id}`}
      label="Reset second factor…"
      hidden={`of ${user.email}`}
      group={`Confirm resetting the second factor of ${user.email}`}
      action="Reset second factor"
      busyAction="Resetting…"
      busy={resetting}
      onConfirm={() =>
        report(
          async () => (await reset({ id: user.id })).resetStaffUserSecondFactor,
          `The second factor of ${user.email} is removed and they are signed out everywhere.`,
          notify,
        )
      }
    >
      Reset the second factor of {user.email}? Their authenticator app and recovery codes stop working and every session of
      theirs ends; they sign in with their password alone and should enrol a new app at once.
    </ConfirmAction>
  );
}

function UserActions({ user, role, self, notify }: { user: User; role: Role; self: boolean; notify: Notify }) {
  const [change, changing] = useMutation(ChangeRole);
  const [disable, disabling] = useMutation(DisableUser);
  const [enable, enabling] = useMutation(EnableUser);
  const [newRole, setNewRole] = useState<Role>(user.role);
  const roleId = `role-${user.id}`;
  if (!atLeast(role, user.role)) return <span className="muted">A stronger role: only an owner changes it.</span>;
  return (
    <div className="actions">
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void report(async () => (await change({ id: user.id, role: newRole })).changeStaffUserRole, `${user.email} is now ${humanize(newRole)}.`, notify);
        }}
      >
        <label htmlFor={roleId} className="visually-hidden">
          Role of {user.email}
        </label>
        <select id={roleId} value={newRole} onChange={(e) => setNewRole(e.target.value as Role)}>
          {grantable(role).map((r) => (
            <option key={r} value={r}>
              {humanize(r)}
            </option>
          ))}
        </select>
        <button type="submit" className="secondary" disabled={changing || newRole === user.role}>
          Change role<span className="visually-hidden"> of {user.email}</span>
        </button>
      </form>
      {user.secondFactorEnabled && !self ? <ResetSecondFactorAction user={user} notify={notify} /> : null}
      {user.active ? (
        self ? null : (
          <ConfirmAction
            id={`disable-${user.id}`}
            label="Remove access…"
            hidden={`of ${user.email}`}
            group={`Confirm removing ${user.email}`}
            action="Disable user"
            busyAction="Disabling…"
            busy={disabling}
            onConfirm={() => report(async () => (await disable({ id: user.id })).disableStaffUser, `${user.email} is disabled and signed out everywhere.`, notify)}
          >
            Disable {user.email}? Every session of theirs ends at once; they stay in the audit trail and can be enabled again.
          </ConfirmAction>
        )
      ) : (
        <button type="button" className="secondary" disabled={enabling} onClick={() => report(async () => (await enable({ id: user.id })).enableStaffUser, `${user.email} is enabled again and may sign in.`, notify)}>
          Enable<span className="visually-hidden"> {user.email}</span>
        </button>
      )}
    </div>
  );
}

export default function StaffPage() {
  const role = useRole();
  const { session } = useAuth();
  const isAdmin = atLeast(role, "ADMIN");
  const pager = useCursorPager();
  const { data, error, loading, refetch } = useQuery(StaffQuery, { first: 25, after: pager.after }, { skip: !isAdmin });
  const [outcome, setOutcome] = useState<{ text: string; tone: "success" | "error" } | null>(null);
  const connection = data?.staffUsers;
  const notify: Notify = (text, tone) => {
    setOutcome({ text, tone });
    refetch();
  };
  return (
    <>
      <PageHead title="Staff users" />
      <p className="muted">Who signs in to this portal, and with which role. Nobody can hand out a role stronger than their own.</p>
      {!role ? <Loading what="your role" /> : null}
      {role && !isAdmin ? <Empty>Staff users are managed by administrators of your organization.</Empty> : null}
      {outcome ? (
        <p className={`notice ${outcome.tone}`} role={outcome.tone === "error" ? "alert" : "status"}>
          {outcome.text}
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} onRetry={refetch} what="the staff users" /> : null}
      {isAdmin && loading && !connection ? <Loading what="staff users" /> : null}
      {connection && connection.nodes.length > 0 && role ? (
        <>
          <Table caption="Staff users">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Second factor</th>
                <th scope="col">Added</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {connection.nodes.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.email}
                    {u.email === session?.email ? <span className="muted"> (you)</span> : null}
                  </td>
                  <td>{u.name || "—"}</td>
                  <td>{humanize(u.role)}</td>
                  <td>
                    <span className={`badge ${u.active ? "ok" : ""}`}>{u.active ? "Active" : "Disabled"}</span>
                  </td>
                  <td>{u.secondFactorEnabled ? "On" : <span className="muted">Off</span>}</td>
                  <td>{formatDateTime(u.createdAt)}</td>
                  <td>
                    <UserActions key={`${u.id}-${u.role}`} user={u} role={role} self={u.email === session?.email} notify={notify} />
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
          <Pager
            page={pager.page}
            hasNext={connection.pageInfo.hasNextPage}
            total={connection.totalCount}
            shown={connection.nodes.length}
            noun="staff users"
            onPrevious={pager.previous}
            onNext={() => pager.next(connection.pageInfo.endCursor)}
          />
        </>
      ) : null}
      {isAdmin && role ? <NewUserForm role={role} onCreated={(email) => notify(`${email} is added and may sign in now.`, "success")} /> : null}
    </>
  );
}
