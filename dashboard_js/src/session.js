// The signed-in key and shop, kept for this tab only (sessionStorage).
const KEY = 'smc-dashboard'

export function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null')
    if (saved && typeof saved.key === 'string' && Number.isInteger(saved.shopId)) return saved
  } catch {}
  return null
}

export function save(session) {
  sessionStorage.setItem(KEY, JSON.stringify({ key: session.key, shopId: session.shopId }))
}

export function clear() {
  sessionStorage.removeItem(KEY)
}
