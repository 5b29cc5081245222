import Link from "next/link";
import { StatusBadge } from "@/components/StatusBadge";
import { Table } from "@/components/Table";
import { formatDate, formatMoney } from "@/lib/format";

export type InvoiceRow = {
  id: string;
  number?: string | null;
  status: string;
  currency: string;
  totalAmount: string;
  amountDue: string;
  periodStart: string;
  periodEnd: string;
  issuedAt?: string | null;
  customer?: { externalId: string; name: string };
};

export function InvoiceTable({ invoices, caption, showCustomer }: { invoices: InvoiceRow[]; caption: string; showCustomer: boolean }) {
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          <th scope="col">Invoice</th>
          {showCustomer ? <th scope="col">Customer</th> : null}
          <th scope="col">Status</th>
          <th scope="col">Period</th>
          <th scope="col">Issued</th>
          <th scope="col" className="num">
            Total
          </th>
          <th scope="col" className="num">
            Amount due
          </th>
        </tr>
      </thead>
      <tbody>
        {invoices.map((invoice) => (
          <tr key={invoice.id}>
            <td>
              <Link href={`/admin/invoice?id=${encodeURIComponent(invoice.id)}`}>
                {invoice.number ?? `Draft ${invoice.id.slice(0, 8)}`}
              </Link>
            </td>
            {showCustomer && invoice.customer ? (
              <td>
                <Link href={`/admin/customer?id=${encodeURIComponent(invoice.customer.externalId)}`}>
                  {invoice.customer.name || invoice.customer.externalId}
                </Link>
              </td>
            ) : null}
            <td>
              <StatusBadge status={invoice.status} />
            </td>
            <td>
              {formatDate(invoice.periodStart)} – {formatDate(invoice.periodEnd)}
            </td>
            <td>{formatDate(invoice.issuedAt)}</td>
            <td className="num">{formatMoney(invoice.totalAmount, invoice.currency)}</td>
            <td className="num">{formatMoney(invoice.amountDue, invoice.currency)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}
