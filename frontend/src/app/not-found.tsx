import Link from "next/link";

export default function NotFound() {
  return (
    <main id="main" className="centered">
      <h1>Page not found</h1>
      <p>There is no page at this address.</p>
      <p>
        <Link href="/admin">Go to the admin portal</Link>
      </p>
    </main>
  );
}
