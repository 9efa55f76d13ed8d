/**
 * What a system item says to a person, in both languages; shared by widget and console.
 */

import type { SystemItem } from '../sdk/src/index.js';
import type { Lang } from './lang.js';

type Texts = Record<string, (s: SystemItem) => string>;

const EN: Texts = {
  created: () => 'Conversation started',
  queued: (s) => `Waiting for an agent (number ${s.position ?? '?'} in the queue)`,
  queue_position: (s) => `Now number ${s.position ?? '?'} in the queue`,
  assigned: (s) => `${s.agent ?? 'An agent'} joined the conversation`,
  transfer_requested: (s) => `Transfer to ${s.agent ?? 'another agent'} requested`,
  transferred: (s) => `Transferred to ${s.agent ?? 'another agent'}`,
  transfer_failed: (s) => `Transfer did not happen (${s.reason ?? 'unknown'})`,
  requeued: () => 'Back in the queue for the next free agent',
  ended: (s) => `Conversation ended${s.reason ? ` (${s.reason})` : ''}`,
};

const ZH: Texts = {
  created: () => '会话已开始',
  queued: (s) => `正在等待客服（排队第 ${s.position ?? '?'} 位）`,
  queue_position: (s) => `现在排队第 ${s.position ?? '?'} 位`,
  assigned: (s) => `客服 ${s.agent ?? ''} 已加入会话`,
  transfer_requested: (s) => `正在转接给 ${s.agent ?? '其他客服'}`,
  transferred: (s) => `已转接给 ${s.agent ?? '其他客服'}`,
  transfer_failed: (s) => `转接未成功（${s.reason ?? '未知'}）`,
  requeued: () => '已重新排队，等待下一位空闲客服',
  ended: (s) => `会话已结束${s.reason ? `（${s.reason}）` : ''}`,
};

/** The sentence for a system item (its event name for one this page does not know). */
export function systemText(s: SystemItem, lang: Lang): string {
  const t = (lang === 'zh-CN' ? ZH : EN)[s.event];
  return t ? t(s) : s.event;
}
