// Types for connect.js, served by callback_app at /connect.js (README: "Use it from your own site").

/** One connected account, as GET /api/session lists it. */
export interface CallbackAppAccount {
  service: string;
  integrationUserUUID: string;
  name: string | null;
  email: string | null;
  imageUrl: string | null;
  country: string | null;
  /** The streaming service's tokens, as MusicAPI hands them over (accessToken and whatever else it sends). */
  authData: { accessToken?: string; [field: string]: unknown };
  /** When authData expires, in epoch milliseconds; null when MusicAPI does not say. */
  expiresAt: number | null;
  /** True once the tokens have expired and could not be renewed: offer a Reconnect. */
  expired: boolean;
  /** Why the last renewal failed, when it did. */
  refreshError?: string;
}

export interface CallbackAppSession {
  accounts: CallbackAppAccount[];
}

export interface ConnectOptions {
  /** Log in in a popup; the promise resolves with the new account. Popups blocked: falls back to the redirect. */
  popup?: boolean;
  /** Redirect mode: where the browser comes back to (this site or an allowed origin). Default: the current page. */
  next?: string;
}

/**
 * Why a call was refused: "popup_closed", "timeout", "network_error", or the app's own error code
 * ("login_failed" when the person cancelled, "flow_expired", "upstream_timeout", "foreign_origin", ...).
 */
export interface CallbackAppError extends Error {
  name: "CallbackAppError";
  code: string;
}

export interface CallbackApp {
  /** The app's origin, taken from the script's own URL. */
  readonly origin: string;
  connect(service?: string, options?: ConnectOptions): Promise<CallbackAppAccount>;
  connect(options: ConnectOptions): Promise<CallbackAppAccount>;
  session(): Promise<CallbackAppSession>;
  disconnect(service: string): Promise<void>;
  logout(): Promise<void>;
}

declare global {
  interface Window {
    CallbackApp: CallbackApp;
  }
}
