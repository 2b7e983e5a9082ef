/** A result with the raw response it came in (its body already read): every header is there. */
export type DataAndResponse<D> = { data: D; response: Response };

/**
 * What every method returns: await it for the data, or call `.withResponse()` for the data and the
 * raw `Response`. The data is derived only when awaited, so a failed call is reported once, to the
 * path the caller took, and never as an unhandled rejection of the other.
 */
export class APIPromise<D> implements Promise<D> {
  readonly [Symbol.toStringTag] = 'APIPromise';
  #data: Promise<D> | undefined;

  constructor(private readonly result: Promise<DataAndResponse<D>>) {}

  withResponse(): Promise<DataAndResponse<D>> {
    return this.result;
  }

  #parsed(): Promise<D> {
    return (this.#data ??= this.result.then((r) => r.data));
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as in Promise itself: handlers typed `(e: Error) => ...` keep compiling
  then<A = D, B = never>(onfulfilled?: ((value: D) => A | PromiseLike<A>) | null, onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.#parsed().then(onfulfilled, onrejected);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as in Promise itself (see then)
  catch<B = never>(onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<D | B> {
    return this.#parsed().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<D> {
    return this.#parsed().finally(onfinally);
  }
}
