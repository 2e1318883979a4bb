/**
 * Just enough HTML reading for scriptedLogin: the forms on the dev provider's
 * pages (ours, and oidc-provider's form_post page) and the error text on its
 * error page. Both are generated markup with double-quoted attributes, not
 * arbitrary HTML, so regular expressions suffice.
 */

export interface HtmlForm {
  attributes: Record<string, string>;
  /** name/value of every named <input>, in document order */
  fields: Array<[string, string]>;
  /** ids of the form's buttons */
  buttonIds: string[];
}

const FORM = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
const INPUT = /<input\b([^>]*)>/gi;
const BUTTON = /<button\b([^>]*)>/gi;
const ATTRIBUTE = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g;

export function parseForms(html: string): HtmlForm[] {
  return [...html.matchAll(FORM)].map(([, attributes = '', inner = '']) => ({
    attributes: parseAttributes(attributes),
    fields: [...inner.matchAll(INPUT)].flatMap(([, input = '']) => {
      const { name, value = '' } = parseAttributes(input);
      return name === undefined ? [] : [[name, value] as [string, string]];
    }),
    buttonIds: [...inner.matchAll(BUTTON)].flatMap(([, button = '']) => {
      const { id } = parseAttributes(button);
      return id === undefined ? [] : [id];
    }),
  }));
}

/** The text of the element with this id (tags stripped), if present. */
export function textById(html: string, id: string): string | undefined {
  const match = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match?.[2] === undefined
    ? undefined
    : decodeEntities(match[2].replace(/<[^>]*>/g, '')).trim();
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [, name = '', double, single, bare] of source.matchAll(ATTRIBUTE)) {
    attributes[name.toLowerCase()] = decodeEntities(double ?? single ?? bare ?? '');
  }
  return attributes;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, body: string) => {
    if (body[0] === '#') {
      const code =
        body[1] === 'x' || body[1] === 'X'
          ? parseInt(body.slice(2), 16)
          : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED[body.toLowerCase()] ?? entity;
  });
}
