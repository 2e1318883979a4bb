/** The broker's callback route, which the default redirect URI names: its own module so `doctor` can name it without loading the server. */
export const CALLBACK_PATH = '/pkce/response/code';
