import Monitor from './monitor'

export const dynamic = 'force-dynamic'

export default function Page() {
  return <Monitor />
}
