// oidc-provider v9 ships no TypeScript declarations. This covers only the
// surface the dev provider uses; the configuration stays loosely typed because
// its shape is documented (and validated at runtime) by oidc-provider itself.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** The subset of a Koa context that our middleware touches. */
  export interface KoaContext {
    readonly method: string;
    readonly path: string;
    querystring: string;
    readonly query: Record<string, string | string[] | undefined>;
    status: number;
    type: string;
    body: unknown;
    readonly req: IncomingMessage;
    readonly res: ServerResponse;
    set(field: string, value: string): void;
    get(field: string): string;
    redirect(url: string): void;
  }

  export type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

  export interface Interaction {
    readonly uid: string;
    readonly returnTo: string;
    readonly prompt: {
      readonly name: string;
      readonly reasons: string[];
      readonly details: Record<string, unknown>;
    };
    readonly params: Record<string, unknown>;
    readonly session?: { readonly accountId: string; readonly uid: string };
    readonly grantId?: string;
  }

  export interface Grant {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(indicator: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>);
    readonly issuer: string;
    readonly Grant: GrantConstructor;
    /** Koa's flag: when true the default error listener prints nothing. */
    silent: boolean;
    use(middleware: Middleware): this;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: any[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
  }

  export default Provider;
}
