// Gas conservation (DESIGN invariant 6): for every external message,
//   gas limit = burned + refunded + held by descendants (queued, waiting, delayed, mailbox),
// over random message trees with sends, delays, failures, replies with and without their own gas, and messages
// to users. Run to idle, nothing is held, so limit = burned + refunded, summed over the message's tree.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Runtime, type MessageOutcome } from '../../src/index.js'

interface TreeNode {
  spend: number
  fail: boolean
  explicitReply: boolean
  children: { target: number; share: number; delay: number; node: TreeNode }[]
}

const USERS = ['a1'.repeat(32), 'b2'.repeat(32)]
/** A tree of at most `depth` levels below this node, each node with up to 3 children. */
function treeOf(depth: number): fc.Arbitrary<TreeNode> {
  return fc.record({
    spend: fc.nat(5),
    fail: fc.nat(5).map((n) => n === 0),
    explicitReply: fc.boolean(),
    children: depth === 0 ? fc.constant([]) : fc.array(fc.record({
      target: fc.nat(4), share: fc.double({ min: 0.05, max: 0.6, noNaN: true }), delay: fc.nat(2), node: treeOf(depth - 1),
    }), { minLength: depth >= 3 ? 1 : 0, maxLength: 3 }),
  })
}
const tree = treeOf(4)

describe('gas conservation', () => {
  it('holds for every external message over random message trees', async () => {
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    try {
      const code = await rt.uploadCode('test/fixtures/programs/relay.ts')
      // Peers: three relay programs and two users (messages to users land in mailboxes, their gas refunded).
      const salts = ['p0', 'p1', 'p2'].map((s) => new TextEncoder().encode(s))
      const { deriveProgramId } = await import('../../src/message/index.js')
      const creator = '0000000000000000000000000000000000000000000000000000000000000001'
      const programs = salts.map((salt) => deriveProgramId(creator as never, code, salt))
      const peers = new TextEncoder().encode(JSON.stringify([...programs, ...USERS]))
      for (const salt of salts) await rt.createProgram(code, { salt, payload: peers, gasLimit: 10_000_000 })
      await rt.runUntilIdle()

      const burned = new Map<string, number>()
      const refunded = new Map<string, number>()
      const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value)
      const seen = { messages: 0, failures: 0, mailboxed: 0 }
      rt.on('message', (o: MessageOutcome) => {
        seen.messages += 1
        if (o.result === 'error') seen.failures += 1
        add(burned, o.origin, o.gasBurned)
        add(refunded, o.origin, o.gasRefunded)
      })
      rt.on('mailbox', ({ message }) => {
        seen.mailboxed += 1
        add(refunded, message.origin, message.gasLimit)
      })

      await fc.assert(fc.asyncProperty(tree, fc.integer({ min: 2_000_000, max: 100_000_000 }), fc.nat(2), async (node, gasLimit, target) => {
        const id = rt.send({ source: USERS[0]!, destination: programs[target]!, payload: new TextEncoder().encode(JSON.stringify(node)), gasLimit })
        await rt.runUntilIdle({ maxCycles: 100 })
        expect(rt.idle).toBe(true)
        expect((burned.get(id) ?? 0) + (refunded.get(id) ?? 0)).toBe(gasLimit)
      }), { numRuns: 200 })
      // The trees really branched, failed and reached users: the property was not checked on trivia.
      expect(seen.messages).toBeGreaterThan(1000)
      expect(seen.failures).toBeGreaterThan(50)
      expect(seen.mailboxed).toBeGreaterThan(100)
      console.log(`gas conservation checked over ${seen.messages} messages (${seen.failures} failed, ${seen.mailboxed} to mailboxes)`)
    } finally {
      await rt.close()
    }
  })
})
