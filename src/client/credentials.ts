/** A bearer token, or a function that returns a current one (tokens expire, so it is asked before every request). */
export type TokenSource = string | (() => string | Promise<string>);

export interface Credentials {
  /** Where the service runs, such as `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The client id, sent as `x-api-key`; it must equal the token's `client_id` claim. */
  apiKey: string;
  token: TokenSource;
}

export async function authorization(token: TokenSource): Promise<string> {
  return `Bearer ${typeof token === 'function' ? await token() : token}`;
}
