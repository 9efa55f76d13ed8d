/**
 * The console's words in English and Simplified Chinese.
 */

import type { Lang } from '../../ui/lang.js';

/** Every string the console shows. */
export interface ConsoleStrings {
  title: string; signIn: string; server: string; token: string; devName: string; mode: string; modeToken: string; modeDev: string;
  signOut: string; status: string; online: string; away: string; offline: string; capacity: string;
  conversations: string; waiting: string; serving: string; transferring: string; ended: string; none: string;
  unread: (n: number) => string; reply: string; send: string; accept: string; decline: string; transfer: string;
  transferTo: string; transferNote: string; transferGo: string; cancel: string; end: string; closePane: string;
  older: string; noOlder: string; offeredBy: (a: string) => string; newConversation: string; newOffer: (a: string) => string;
  connecting: string; connected: string; reconnecting: string; offlineNet: string; stopped: string;
  movedTo: (a: string) => string; cannedHint: string; pickHint: string; visitor: string; details: string; you: string; typing: (w: string) => string;
}

const EN: ConsoleStrings = {
  title: 'Agent console', signIn: 'Sign in', server: 'Server', token: 'Token', devName: 'Agent name (development sign-in)',
  mode: 'Sign in with', modeToken: 'a token', modeDev: 'a user name (development)', signOut: 'Sign out',
  status: 'Status', online: 'Online', away: 'Away', offline: 'Offline', capacity: 'Capacity',
  conversations: 'Conversations', waiting: 'Waiting', serving: 'Serving', transferring: 'Transferring', ended: 'Ended',
  none: 'No conversations yet', unread: (n) => `${n} unread`, reply: 'Reply (type / for canned replies)', send: 'Send',
  accept: 'Accept', decline: 'Decline', transfer: 'Transfer', transferTo: 'To agent', transferNote: 'Note for the next agent (sent as a line)',
  transferGo: 'Offer transfer', cancel: 'Cancel', end: 'End', closePane: 'Close', older: 'Load older messages', noOlder: 'Beginning of the conversation',
  offeredBy: (a) => `Offered to you by ${a}`, newConversation: 'New conversation', newOffer: (a) => `${a} offers you a conversation`,
  connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', offlineNet: 'Offline', stopped: 'Disconnected',
  movedTo: (a) => `Transferred to ${a}`, cannedHint: 'Canned replies', pickHint: 'Select a conversation on the left', visitor: 'Visitor', details: 'Visitor details', you: 'You',
  typing: (w) => `${w} is typing…`,
};

const ZH: ConsoleStrings = {
  title: '客服工作台', signIn: '登录', server: '服务器', token: '令牌', devName: '客服名称（开发环境登录）',
  mode: '登录方式', modeToken: '令牌', modeDev: '用户名（开发环境）', signOut: '退出',
  status: '状态', online: '在线', away: '离开', offline: '离线', capacity: '接待上限',
  conversations: '会话', waiting: '等待中', serving: '接待中', transferring: '转接中', ended: '已结束',
  none: '暂无会话', unread: (n) => `${n} 条未读`, reply: '回复（输入 / 使用快捷回复）', send: '发送',
  accept: '接受', decline: '拒绝', transfer: '转接', transferTo: '转给客服', transferNote: '给下一位客服的备注（作为一条消息发送）',
  transferGo: '发起转接', cancel: '取消', end: '结束', closePane: '关闭', older: '加载更早的消息', noOlder: '已到会话开头',
  offeredBy: (a) => `${a} 将此会话转接给您`, newConversation: '新会话', newOffer: (a) => `${a} 向您转接了一个会话`,
  connecting: '正在连接…', connected: '已连接', reconnecting: '正在重连…', offlineNet: '网络已断开', stopped: '已断开',
  movedTo: (a) => `已转接给 ${a}`, cannedHint: '快捷回复', pickHint: '请在左侧选择一个会话', visitor: '访客', details: '访客信息', you: '我',
  typing: (w) => `${w} 正在输入…`,
};

/** The strings of `lang`. */
export function consoleStrings(lang: Lang): ConsoleStrings {
  return lang === 'zh-CN' ? ZH : EN;
}
