// A node for the lease test: takes the lease named on the command line (term given), then does fenced work in a
// loop (one row into lease_marks per turn, fenced by its lease, with most of each turn spent inside the
// transaction) and prints a JSON line per turn, until its work is refused; then prints why and exits. The test
// pauses it with SIGSTOP past its term, most likely in the middle of a transaction.
import pg from 'pg'
import { acquireLease, fenceLease, limitIdleTransactions } from '../../dist/cluster/index.js'

const [url, name, holder, term] = process.argv.slice(2)
const client = new pg.Client({ connectionString: url })
client.on('error', () => undefined) // the server may end this session while it is paused: the next query says so
await client.connect()
await limitIdleTransactions(client, Number(term))
const lease = await acquireLease(client, name, holder, Number(term))
if (lease === undefined) {
  console.log(JSON.stringify({ acquired: false }))
  process.exit(1)
}
console.log(JSON.stringify({ acquired: true, epoch: lease.epoch }))
for (;;) {
  try {
    await client.query('BEGIN')
    await fenceLease(client, lease)
    await client.query('INSERT INTO lease_marks (holder, epoch) VALUES ($1, $2)', [holder, lease.epoch])
    await new Promise((resolve) => setTimeout(resolve, 30))
    await client.query('COMMIT')
    console.log(JSON.stringify({ worked: true }))
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    console.log(JSON.stringify({ refused: error.code ?? 'NO_CODE', message: String(error.message) }))
    break
  }
  await new Promise((resolve) => setTimeout(resolve, 5))
}
await client.end().catch(() => undefined)
