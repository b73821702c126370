/**
 * Relative links in Markdown, and whether they resolve: the file exists, and a `#anchor` is the
 * GitHub slug of one of the target's headings. External links (a scheme, `//host`) are not checked.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface Link {
  /** The Markdown file the link is in, relative to the root. */
  file: string;
  line: number;
  target: string;
}

/** The text outside fenced code blocks and inline code spans, line by line (code is not Markdown). */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '``');
  });
}

/** Every inline link and image target, `[text](target)` or `[text](target "title")`. */
export function linksIn(file: string, markdown: string): Link[] {
  const links: Link[] = [];
  proseLines(markdown).forEach((line, index) => {
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ file, line: index + 1, target: match[1] });
  });
  return links;
}

/** GitHub's anchor for a heading: its text as rendered, lower-cased, punctuation dropped, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link renders as its text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/[*`]/g, ''); // emphasis and code markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown file's headings get, duplicates numbered as GitHub numbers them (`-1`, `-2`). */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

/**
 * What is wrong with each link of `files` (paths relative to `root`), one line each; empty when
 * all resolve.
 */
export function brokenLinks(root: string, files: string[]): string[] {
  const problems: string[] = [];
  const read = (path: string) => readFileSync(join(root, path), 'utf8');
  for (const file of files) {
    for (const link of linksIn(file, read(file))) {
      if (isExternal(link.target)) continue;
      const where = `${link.file}:${link.line}: ${link.target}`;
      const [pathPart, anchor] = link.target.split('#', 2) as [string, string | undefined];
      const target = pathPart === '' ? file : relative(root, resolve(root, dirname(file), decodeURIComponent(pathPart)));
      if (!existsSync(join(root, target))) {
        problems.push(`${where}: no such file (${target})`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!target.endsWith('.md') || statSync(join(root, target)).isDirectory()) {
        problems.push(`${where}: an anchor into a file that is not Markdown`);
      } else if (!anchorsOf(read(target)).has(anchor)) {
        problems.push(`${where}: ${target} has no heading whose anchor is #${anchor}`);
      }
    }
  }
  return problems;
}
