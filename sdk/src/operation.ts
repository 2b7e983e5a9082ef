import type { APIPromise } from './api-promise.js';
import type { RequestOptions } from './call-options.js';
import type { Client } from './generated/client/index.js';
import type { Page, PageList } from './pagination.js';

/** What every result also carries, without being part of its data. */
export type ResponseInfo = { requestId: string | undefined; status: number; headers: Headers };
export type WithResponse<D> = D & { readonly lastResponse: ResponseInfo };

/** What a function generated from the spec (`sdk.gen.ts`) is sent with: the client, and this call's fetch. */
export type OperationContext = { client: Client; fetch: typeof fetch };
export type OperationResult<D> = { data?: D; error?: unknown; response?: Response };
/** One call of a generated function. */
export type Operation<D> = (c: OperationContext) => Promise<OperationResult<D>>;
/** One page of a generated list function. */
export type PageOperation<P> = (page: number, c: OperationContext) => Promise<OperationResult<P>>;

/** How the resources run their operations: the client's transport, retries, errors and pagination. */
export type OperationRunner = {
  /** One operation: its data with the response info, or a typed error. */
  call: <D>(operation: Operation<D>, options?: RequestOptions) => APIPromise<WithResponse<D>>;
  /** A paginated list, from `query.page` (default the first page) on. */
  list: <Item, P extends Page<Item>>(
    fetchPage: PageOperation<P>,
    query: { page?: number } | undefined,
    options?: RequestOptions,
  ) => PageList<Item, WithResponse<P>>;
};
