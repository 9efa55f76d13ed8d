/**
 * Telling an agent something new arrived while it looks elsewhere: a short tone
 * (Web Audio, so no sound file is needed) and a desktop notification when allowed.
 */

let audio: AudioContext | undefined;

/** Asks for notification permission; call from a click (browsers require a gesture). */
export function askPermission(): void {
  if (typeof Notification !== 'undefined' && Notification.permission === 'default') void Notification.requestPermission();
  try {
    audio ??= new AudioContext();
  } catch {
    audio = undefined;
  }
}

/** Plays the tone and, if the page is hidden and permission was given, notifies. */
export function alertAgent(title: string, body: string): void {
  beep();
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted' || document.visibilityState === 'visible') return;
  try {
    new Notification(title, { body, tag: 'switchboard' });
  } catch {
    // Some browsers allow notifications only from a service worker: the tone is enough.
  }
}

function beep(): void {
  if (!audio) return;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.12, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.35);
}
