import TurndownService from 'turndown';

const turndown = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' });
// Code, styles and embedded frames are not the document's text; neither is the <head> (its title repeats the page's heading).
turndown.remove(['script', 'style', 'noscript', 'template', 'iframe', 'head', 'object', 'embed']);
// An image is kept as its alt text: a URL (or a data: URI of megabytes) says nothing a search can use.
turndown.addRule('imageAltText', {
  filter: 'img',
  // The server compiles without the DOM library, so turndown's HTMLElement is described by the one method used.
  replacement: (_content, node) => (node as unknown as { getAttribute(name: string): string | null }).getAttribute('alt')?.trim() ?? '',
});

export function htmlToMarkdown(html: string): string {
  return turndown.turndown(html);
}
