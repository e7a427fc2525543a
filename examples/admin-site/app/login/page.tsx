import { returnPath } from '@/lib/return-path.mjs'

export default async function Login({ searchParams }: { searchParams: Promise<{ error?: string; next?: string }> }) {
  const params = await searchParams
  return (
    <main style={{ maxWidth: 360, margin: '10vh auto', background: '#fff', padding: 24, borderRadius: 8 }}>
      <h1>Admin sign-in</h1>
      {params?.error ? <p role="alert" style={{ color: '#b00020' }}>Wrong email or password.</p> : null}
      <form method="post" action="/api/login">
        <input type="hidden" name="next" value={returnPath(params?.next)} />
        <label>Email<br /><input name="email" type="email" required style={{ width: '100%' }} /></label>
        <br /><br />
        <label>Password<br /><input name="password" type="password" required style={{ width: '100%' }} /></label>
        <br /><br />
        <button type="submit">Sign in</button>
      </form>
    </main>
  )
}
