// The GraphQL WebSocket (graphql-ws client, protocol graphql-transport-ws), signed in
// with the key in connection_init. It reconnects by itself, without end.
import { createClient } from 'graphql-ws'

export function connect({ key, onStatus }) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`
  const client = createClient({
    url,
    connectionParams: { authorization: `Bearer ${key}` },
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => new Promise((r) => setTimeout(r, Math.min(500 * 2 ** retries, 5000))),
  })
  client.on('connecting', () => onStatus?.('connecting'))
  client.on('connected', () => onStatus?.('live'))
  client.on('closed', () => onStatus?.('reconnecting'))
  return client
}

/**
 * Follows a subscription and resumes it where it stopped: the client sends the
 * same payload object again on every reconnect, so `cursor(next)` writes the
 * last id seen into its variables (`after`) before that happens.
 */
export function follow(client, { query, variables, cursor, next, error }) {
  const payload = { query, variables: { ...variables } }
  return client.subscribe(payload, {
    next(result) {
      if (result.errors?.length) return error?.(result.errors[0])
      const item = next(result.data)
      if (item !== undefined) payload.variables[cursor] = item
    },
    error: (e) => error?.(e),
    complete: () => {},
  })
}
