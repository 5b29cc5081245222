import { countOf } from "@/lib/format";

type Props = {
  page: number;
  hasNext: boolean;
  total: number;
  shown: number;
  noun: string;
  onPrevious(): void;
  onNext(): void;
};

export function Pager({ page, hasNext, total, shown, noun, onPrevious, onNext }: Props) {
  if (page === 1 && !hasNext) {
    return (
      <p className="pager count">
        {countOf(total, noun)}
      </p>
    );
  }
  return (
    <nav className="pager" aria-label={`Pages of ${noun}`}>
      <button type="button" className="secondary" onClick={onPrevious} disabled={page === 1}>
        Previous page
      </button>
      <span className="count" aria-live="polite">
        Page {page} · {shown} of {countOf(total, noun)}
      </span>
      <button type="button" className="secondary" onClick={onNext} disabled={!hasNext}>
        Next page
      </button>
    </nav>
  );
}
