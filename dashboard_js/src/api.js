// GraphQL over HTTP with the signed-in key, and every failure put in words.

export class ApiError extends Error {
  constructor(message, code, field) {
    super(message)
    this.code = code
    this.field = field
  }
}

const MISSING_FIELD = /Cannot query field ['"]([^'"]+)['"] on type ['"]([^'"]+)['"]/

/** What a person should read for an error of the API (or of the network). */
export function words(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the dashboard: ${error?.message || error}`
  const missing = MISSING_FIELD.exec(error.message)
  if (missing) return `This server does not offer “${missing[1]}” yet, so this view cannot show anything here.`
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return `The key was not accepted (${error.message}). Sign in again with a valid key.`
    case 'FORBIDDEN':
      return `This key is not allowed to do that: ${error.message}.`
    case 'BAD_INPUT':
      return `The server did not accept this${error.field ? ` (${error.field})` : ''}: ${error.message}`
    case 'NOT_FOUND':
      return `Not found: ${error.message}`
    case 'RATE_LIMITED':
      return 'Too many requests for this key right now; wait a moment and try again.'
    case 'NETWORK':
    case 'HTTP':
      return error.message
    default:
      return `The server failed: ${error.message}`
  }
}

function fromGraphQL(err) {
  const ext = err.extensions || {}
  return new ApiError(err.message || 'unknown error', ext.code || 'INTERNAL', ext.field)
}

/** A client for one shop, signed in with `key`. */
export function createApi({ key, shopId, endpoint = '/graphql' }) {
  async function request(query, variables = {}) {
    let response
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables: { shopId, ...variables } }),
      })
    } catch {
      throw new ApiError('The server cannot be reached. Check the connection and try again.', 'NETWORK')
    }
    let body
    try {
      body = await response.json()
    } catch {
      throw new ApiError(`The server answered with HTTP ${response.status} and no GraphQL result.`, 'HTTP')
    }
    if (body.errors && body.errors.length) {
      const error = fromGraphQL(body.errors[0])
      // Whatever view asked, the page offers to sign in again (main.js).
      if (error.code === 'UNAUTHENTICATED') window.dispatchEvent(new CustomEvent('smc:unauthenticated'))
      throw error
    }
    if (!body.data) throw new ApiError(`The server answered with HTTP ${response.status} and no data.`, 'HTTP')
    return body.data
  }
  return { key, shopId, request }
}

/** The shop a key belongs to: shop keys read "sk_<shopId>_…"; the admin key names none. */
export function shopOfKey(key) {
  const m = /^sk_(\d+)_/.exec(key || '')
  return m ? Number(m[1]) : null
}
