import type { ReactNode } from 'react'

export const metadata = { title: 'Print shop admin' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', margin: 0, background: '#f6f7f9', color: '#1d2330' }}>{children}</body>
    </html>
  )
}
