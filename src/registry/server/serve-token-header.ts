/**
 * The request header that carries a serve deployment's own token through the registry ("try
 * it"), beside the registry's token in Authorization. Its own module: the web UI imports it too.
 */
export const SERVE_TOKEN_HEADER = "x-mldeploy-serve-token";
