/**
 * The widget's words in English and Simplified Chinese.
 */

import type { Lang } from '../../ui/lang.js';

/** Every string the widget shows or reads out. */
export interface WidgetStrings {
  open: string; close: string; title: string; input: string; send: string; attach: string;
  connecting: string; connected: string; offline: string; reconnecting: (s: number) => string; stopped: string;
  waiting: (pos?: number) => string; chattingWith: (agent: string) => string; typing: (who: string) => string;
  ended: string; newChat: string; sending: string; sentTick: string; readTick: string; failed: string;
  prechatIntro: string; start: string; fields: { name: string; contact: string; order: string };
  unread: (n: number) => string; uploadFailed: string; you: string; agent: string; empty: string;
}

const EN: WidgetStrings = {
  open: 'Open chat', close: 'Close chat', title: 'Chat with us', input: 'Message', send: 'Send', attach: 'Attach a file or image',
  connecting: 'Connecting…', connected: 'Connected', offline: 'Offline: messages will be sent when you are back online',
  reconnecting: (s) => `Connection lost, reconnecting in ${s} s…`, stopped: 'Disconnected',
  waiting: (pos) => (pos ? `Waiting for an agent: you are number ${pos} in the queue` : 'Waiting for an agent…'),
  chattingWith: (a) => `You are chatting with ${a}`, typing: (w) => `${w} is typing…`,
  ended: 'This conversation has ended.', newChat: 'Write a message to start a new conversation.',
  sending: 'Sending', sentTick: 'Sent', readTick: 'Read', failed: 'Not delivered',
  prechatIntro: 'Before we start, tell us a little about you (all optional).', start: 'Start chat',
  fields: { name: 'Your name', contact: 'Email or phone', order: 'Order number' },
  unread: (n) => `${n} unread`, uploadFailed: 'The file could not be sent', you: 'You', agent: 'Agent',
  empty: 'Ask us anything — we usually answer within a minute.',
};

const ZH: WidgetStrings = {
  open: '打开在线客服', close: '关闭对话', title: '在线客服', input: '输入消息', send: '发送', attach: '发送文件或图片',
  connecting: '正在连接…', connected: '已连接', offline: '网络已断开：恢复后将自动发送消息',
  reconnecting: (s) => `连接已断开，${s} 秒后重连…`, stopped: '已断开',
  waiting: (pos) => (pos ? `正在等待客服：您排在第 ${pos} 位` : '正在等待客服…'),
  chattingWith: (a) => `客服 ${a} 正在为您服务`, typing: (w) => `${w} 正在输入…`,
  ended: '本次会话已结束。', newChat: '发送消息即可开始新的会话。',
  sending: '发送中', sentTick: '已发送', readTick: '已读', failed: '发送失败',
  prechatIntro: '开始之前，请简单介绍一下您（均为选填）。', start: '开始咨询',
  fields: { name: '您的称呼', contact: '邮箱或电话', order: '订单号' },
  unread: (n) => `${n} 条未读`, uploadFailed: '文件发送失败', you: '我', agent: '客服',
  empty: '有任何问题都可以问我们，通常一分钟内回复。',
};

/** The strings of `lang`. */
export function widgetStrings(lang: Lang): WidgetStrings {
  return lang === 'zh-CN' ? ZH : EN;
}
