/**
 * INFORMATIONAL (RFC 7296 §1.4): DELETE of child SAs and of the IKE SA, and the empty request
 * that checks liveness (dead peer detection, §2.4). Only authenticated messages get here, so a
 * forged DELETE cannot tear anything down.
 */
import { spiText } from '../../sa/sad.js';
import { EXCHANGE, PROTO } from '../constants.js';
import type { IkeEngine } from '../engine.js';
import { saName, spi32, spi32Bytes, type IkeSa, type Inbound } from '../ike-sa.js';
import type { Payload } from '../message.js';
import { removeChild } from './child.js';

export async function handleInformationalRequest(eng: IkeEngine, sa: IkeSa, m: Inbound): Promise<void> {
  const deletes = m.payloads.filter((p): p is Payload & { type: 'D' } => p.type === 'D');
  if (deletes.some((d) => d.protocol === PROTO.IKE)) {
    eng.respond(sa, m, []);
    eng.log.info(`${saName(sa)}: peer deleted the IKE SA`);
    return eng.closeSa(sa, 'deleted by peer', { keepChildren: sa.rekeyedTo !== undefined });
  }
  const ours: Uint8Array[] = [];
  for (const d of deletes) {
    if (d.protocol !== PROTO.ESP) continue;
    for (const raw of d.spis) {
      const spi = spi32(raw);
      const child = sa.children.find((c) => c.spiOut === spi);
      if (!child) continue;
      // A child we are deleting ourselves is already in our own DELETE (§1.4.1: no repeat).
      if (child.state !== 'deleting') ours.push(spi32Bytes(child.spiIn));
      await removeChild(eng, sa, child, 'deleted by peer');
    }
  }
  if (sa.fsm.is('closed')) return;
  eng.respond(sa, m, ours.length ? [{ type: 'D', protocol: PROTO.ESP, spiSize: 4, spis: ours }] : []);
}

/** An empty INFORMATIONAL: any authenticated answer proves the peer alive (§2.4). */
export function sendDpd(eng: IkeEngine, sa: IkeSa): void {
  eng.log.debug(`${saName(sa)}: liveness check`);
  eng.request(sa, EXCHANGE.INFORMATIONAL, [], { what: 'liveness check', onResponse: () => undefined });
}

/** DELETE the IKE SA (its children go with it, §1.4.1); closed when answered or given up. */
export function deleteIkeSa(eng: IkeEngine, sa: IkeSa, why: string): void {
  if (!sa.fsm.is('established', 'rekeying')) return void eng.closeSa(sa, why);
  sa.fsm.set('deleting', why);
  sa.closing = why;
  const d: Payload = { type: 'D', protocol: PROTO.IKE, spiSize: 0, spis: [] };
  const moved = sa.rekeyedTo !== undefined;
  eng.log.info(`${saName(sa)}: deleting IKE SA (${why})${sa.children.length ? `, children ${sa.children.map((c) => spiText(c.spiIn)).join(' ')}` : ''}`);
  eng.request(sa, EXCHANGE.INFORMATIONAL, [d], { what: 'delete IKE SA', onResponse: () => eng.closeSa(sa, why, { quiet: moved, keepChildren: moved }) });
}
