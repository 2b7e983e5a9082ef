export type Pagination = { page: number; pageSize: number; total: number; totalPages: number };
export type Page<Item> = { data: Item[]; pagination: Pagination };

/**
 * A list call: await it for one page, or iterate it for every item of every page from there on
 * (`for await (const agent of client.agents.list())`), or walk `.pages()`.
 */
export class PageList<Item, P extends Page<Item>> implements Promise<P>, AsyncIterable<Item> {
  readonly [Symbol.toStringTag] = 'PageList';
  private first: Promise<{ data: P; response: Response }> | undefined;

  constructor(
    private readonly fetchPage: (page: number) => Promise<{ data: P; response: Response }>,
    private readonly startPage = 1,
  ) {}

  /** The first page with the raw `Response` it came in (its body already read). */
  withResponse(): Promise<{ data: P; response: Response }> {
    return (this.first ??= this.fetchPage(this.startPage));
  }

  private firstPage(): Promise<P> {
    return this.withResponse().then((r) => r.data);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as in Promise itself: handlers typed `(e: Error) => ...` keep compiling
  then<A = P, B = never>(onfulfilled?: ((value: P) => A | PromiseLike<A>) | null, onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.firstPage().then(onfulfilled, onrejected);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as in Promise itself (see then)
  catch<B = never>(onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<P | B> {
    return this.firstPage().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<P> {
    return this.firstPage().finally(onfinally);
  }

  /** Every page from the first requested one to the last. */
  async *pages(): AsyncGenerator<P> {
    let page = await this.firstPage();
    for (;;) {
      yield page;
      const { page: n, totalPages } = page.pagination;
      if (n >= totalPages || page.data.length === 0) return;
      page = (await this.fetchPage(n + 1)).data;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item> {
    for await (const page of this.pages()) yield* page.data;
  }
}
