/**
 * The 'strata' module as bundled programs see it: pure helpers with no Node imports, inlined into every code
 * blob by the bundler. The host's public entry exports the same names with the same behaviour.
 */
export { defineProgram } from './api.js'
export { address3d, splitAddress, formatAddress } from '../memory/address.js'
export { RegionType } from '../memory/region.js'
export { ReplyCode, isErrorReply, replyCodeName } from '../message/reply_codes.js'
export { MessageKind } from '../message/types.js'
