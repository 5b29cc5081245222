"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { CustomerForm } from "@/components/CustomerForm";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole } from "@/lib/auth";
import { formatDate } from "@/lib/format";
import { useCursorPager, useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const PAGE_SIZE = 25;

const CustomersQuery = graphql(`
  query Customers($first: Int, $after: String, $search: String) {
    customers(first: $first, after: $after, search: $search) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        externalId
        name
        email
        country
        currency
        createdAt
      }
    }
  }
`);

export default function CustomersPage() {
  const [typed, setTyped] = useState("");
  const [search, setSearch] = useState("");
  const pager = useCursorPager();
  const { reset } = pager;

  // Search as one types, once the typing pauses.
  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(typed.trim()), 300);
    return () => window.clearTimeout(timer);
  }, [typed]);
  useEffect(() => reset(), [search, reset]);

  const query = useQuery(CustomersQuery, {
    first: PAGE_SIZE,
    after: pager.after,
    search: search || null,
  });
  const connection = query.data?.customers;
  const mayCreate = may(useRole(), "manageCustomers");
  const [creating, setCreating] = useState(false);
  const router = useRouter();

  return (
    <>
      <PageHead
        title="Customers"
        actions={
          mayCreate && !creating ? (
            <button type="button" onClick={() => setCreating(true)}>
              New customer
            </button>
          ) : null
        }
      />
      {creating ? (
        <CustomerForm
          onSaved={(externalId) => router.push(`/admin/customer?id=${encodeURIComponent(externalId)}`)}
          onCancel={() => setCreating(false)}
        />
      ) : null}
      <form
        role="search"
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          setSearch(typed.trim());
        }}
      >
        <div className="field">
          <label htmlFor="customer-search">Search customers</label>
          <input
            id="customer-search"
            type="search"
            placeholder="Name, email or id"
            value={typed}
            onChange={(event) => setTyped(event.target.value)}
          />
        </div>
        <button type="submit" className="secondary">
          Search
        </button>
      </form>
      <ConnectionView
        connection={connection}
        state={query}
        what="customers"
        noun="customers"
        empty={
          search
            ? `No customer matches “${search}”.`
            : "No customers yet. Create one with New customer, the createCustomer mutation (GraphiQL) or your integration."
        }
        pager={pager}
      >
        {(nodes) => (
          <Table caption={search ? `Customers matching “${search}”` : "Customers, oldest first"}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">External id</th>
                <th scope="col">Email</th>
                <th scope="col">Country</th>
                <th scope="col">Currency</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody aria-busy={query.loading}>
              {nodes.map((customer) => (
                <tr key={customer.id}>
                  <td>
                    <Link href={`/admin/customer?id=${encodeURIComponent(customer.externalId)}`}>
                      {customer.name || customer.externalId}
                    </Link>
                  </td>
                  <td className="mono">{customer.externalId}</td>
                  <td>{customer.email ?? "—"}</td>
                  <td>{customer.country ?? "—"}</td>
                  <td>{customer.currency ?? "—"}</td>
                  <td>{formatDate(customer.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </ConnectionView>
    </>
  );
}
