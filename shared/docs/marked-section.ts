/**
 * A generated part of a Markdown file sits between two HTML comments (invisible when rendered), so
 * regenerating replaces exactly that part and leaves the hand-written text around it alone.
 */
export interface MarkedSection {
  begin: string;
  end: string;
}

/** The section's markers around its generated body. */
export function markedBlock(section: MarkedSection, body: string): string {
  return [section.begin, body, section.end].join('\n\n');
}

/** `document` with the marked section's body replaced by `body`; the markers must occur once each. */
export function withMarkedSection(document: string, section: MarkedSection, body: string): string {
  const start = document.indexOf(section.begin);
  const end = document.indexOf(section.end);
  const once = (marker: string, at: number) => at >= 0 && document.indexOf(marker, at + 1) < 0;
  if (!once(section.begin, start) || !once(section.end, end) || end < start) {
    throw new Error(`expected the markers ${section.begin} … ${section.end} once each, in that order`);
  }
  return document.slice(0, start) + markedBlock(section, body) + document.slice(end + section.end.length);
}
