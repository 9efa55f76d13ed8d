//! The transition function.

use super::{
    deadline, Announcement, Conversation, Effect, Effects, EndReason, Event, Party, Phase,
    Rejection, RequeueReason, Rules, TransferFailure,
};

/// What one event does to a conversation: computed by [`step`], applied by
/// [`Conversation::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The next phase, or `None` when the phase does not change.
    pub phase: Option<Phase>,
    /// The conversation's `last_activity_ms` afterwards (never earlier than before).
    pub last_activity_ms: u64,
    /// What the engine must do, in order.
    pub effects: Effects,
}

impl Transition {
    /// Nothing happens (a tick before any deadline).
    fn nothing(conv: &Conversation) -> Transition {
        Transition {
            phase: None,
            last_activity_ms: conv.last_activity_ms,
            effects: Effects::new(),
        }
    }

    /// Activity at `now_ms` that keeps the phase.
    fn activity(conv: &Conversation, now_ms: u64) -> Transition {
        Transition {
            phase: None,
            last_activity_ms: conv.last_activity_ms.max(now_ms),
            effects: Effects::new(),
        }
    }

    /// A move to `phase` at `now_ms` (a transition counts as activity).
    fn to(conv: &Conversation, phase: Phase, now_ms: u64) -> Transition {
        Transition {
            phase: Some(phase),
            ..Transition::activity(conv, now_ms)
        }
    }

    fn with(mut self, effect: Effect) -> Transition {
        self.effects.push(effect);
        self
    }

    fn announce(self, announcement: Announcement) -> Transition {
        self.with(Effect::Announce(announcement))
    }
}

/// The transition `event` causes in `conv` at server time `now_ms`, or why it is
/// refused. Pure: same inputs, same answer; `conv` is not modified (see
/// [`Conversation::handle`] to apply it in place).
///
/// `now_ms` earlier than the conversation's last activity (a clock step back) is
/// treated as no time passing.
pub fn step(
    conv: &Conversation,
    event: Event<'_>,
    now_ms: u64,
    rules: &Rules,
) -> Result<Transition, Rejection> {
    if conv.is_ended() {
        return match event {
            Event::Tick => Ok(Transition::nothing(conv)),
            _ => Err(Rejection::Ended),
        };
    }
    match event {
        Event::Assign { agent } => assign(conv, agent, now_ms),
        Event::RequestTransfer { by, to } => request_transfer(conv, by, to, now_ms),
        Event::AcceptTransfer { by } => accept_transfer(conv, by, now_ms),
        Event::DeclineTransfer { by } => match &conv.phase {
            Phase::Transferring { to, .. } if to == by => {
                Ok(fall_back(conv, TransferFailure::Declined, now_ms))
            }
            _ => Err(Rejection::NoTransferOffered),
        },
        Event::AgentLost { agent } => agent_lost(conv, agent, now_ms),
        Event::Message { from } => {
            conv.check_speaker(from)?;
            Ok(Transition::activity(conv, now_ms).with(Effect::DeliverMessage))
        }
        Event::End { by } => {
            conv.check_speaker(by)?;
            let reason = match by {
                Party::Visitor(_) => EndReason::Visitor,
                Party::Agent(_) => EndReason::Agent,
                Party::System => EndReason::Admin,
            };
            Ok(end(conv, reason, now_ms))
        }
        Event::Tick => Ok(tick(conv, now_ms, rules)),
    }
}

fn assign(conv: &Conversation, agent: &str, now_ms: u64) -> Result<Transition, Rejection> {
    if conv.phase != Phase::Waiting {
        return Err(Rejection::NotWaiting);
    }
    let serving = Phase::Serving {
        agent: agent.to_owned(),
    };
    Ok(
        Transition::to(conv, serving, now_ms).announce(Announcement::Assigned {
            agent: agent.to_owned(),
        }),
    )
}

fn request_transfer(
    conv: &Conversation,
    by: &str,
    to: &str,
    now_ms: u64,
) -> Result<Transition, Rejection> {
    match &conv.phase {
        Phase::Serving { agent } if agent == by => {
            if to == by {
                return Err(Rejection::TransferToSelf);
            }
            let transferring = Phase::Transferring {
                from: by.to_owned(),
                to: to.to_owned(),
                origin_available: true,
                since_ms: now_ms,
            };
            Ok(Transition::to(conv, transferring, now_ms)
                .announce(Announcement::TransferRequested {
                    from: by.to_owned(),
                    to: to.to_owned(),
                })
                .with(Effect::OfferTransfer { to: to.to_owned() }))
        }
        Phase::Transferring {
            from,
            origin_available: true,
            ..
        } if from == by => Err(Rejection::TransferPending),
        _ => Err(Rejection::NotServingAgent),
    }
}

fn accept_transfer(conv: &Conversation, by: &str, now_ms: u64) -> Result<Transition, Rejection> {
    let Phase::Transferring {
        from,
        to,
        origin_available,
        ..
    } = &conv.phase
    else {
        return Err(Rejection::NoTransferOffered);
    };
    if to != by {
        return Err(Rejection::NoTransferOffered);
    }
    let mut transition = Transition::to(conv, Phase::Serving { agent: to.clone() }, now_ms);
    if *origin_available {
        transition = transition.with(Effect::ReleaseAgent {
            agent: from.clone(),
        });
    }
    Ok(transition.announce(Announcement::Transferred {
        from: from.clone(),
        to: to.clone(),
    }))
}

/// A transfer that did not complete: back to the origin agent if it is still
/// available, otherwise back to the queue. Only called in [`Phase::Transferring`].
fn fall_back(conv: &Conversation, why: TransferFailure, now_ms: u64) -> Transition {
    let Phase::Transferring {
        from,
        to,
        origin_available,
        ..
    } = &conv.phase
    else {
        unreachable!("fall_back outside a transfer: {:?}", conv.phase);
    };
    let mut transition = Transition::activity(conv, now_ms);
    if why != TransferFailure::Declined {
        // The target never answered; a decline needs no withdrawal.
        transition = transition.with(Effect::WithdrawOffer { to: to.clone() });
    }
    let fell_back_to = origin_available.then(|| from.clone());
    let failed = Announcement::TransferFailed {
        to: to.clone(),
        why,
        fell_back_to: fell_back_to.clone(),
    };
    match fell_back_to {
        Some(agent) => Transition {
            phase: Some(Phase::Serving { agent }),
            ..transition.announce(failed)
        },
        None => Transition {
            phase: Some(Phase::Waiting),
            ..transition
                .announce(failed)
                .announce(Announcement::Requeued {
                    why: RequeueReason::TransferFailed,
                })
                .with(Effect::Enqueue)
        },
    }
}

fn agent_lost(conv: &Conversation, agent: &str, now_ms: u64) -> Result<Transition, Rejection> {
    match &conv.phase {
        Phase::Serving { agent: serving } if serving == agent => {
            Ok(Transition::to(conv, Phase::Waiting, now_ms)
                .with(Effect::ReleaseAgent {
                    agent: serving.clone(),
                })
                .announce(Announcement::Requeued {
                    why: RequeueReason::AgentLost,
                })
                .with(Effect::Enqueue))
        }
        Phase::Transferring { to, .. } if to == agent => {
            Ok(fall_back(conv, TransferFailure::TargetLost, now_ms))
        }
        Phase::Transferring {
            from,
            to,
            origin_available: true,
            since_ms,
        } if from == agent => {
            // The target may still accept; the origin stops serving now.
            let transferring = Phase::Transferring {
                from: from.clone(),
                to: to.clone(),
                origin_available: false,
                since_ms: *since_ms,
            };
            Ok(
                Transition::to(conv, transferring, now_ms).with(Effect::ReleaseAgent {
                    agent: from.clone(),
                }),
            )
        }
        _ => Err(Rejection::AgentNotInvolved),
    }
}

/// Ends a live conversation, releasing its agent and voiding a pending offer.
fn end(conv: &Conversation, reason: EndReason, now_ms: u64) -> Transition {
    let mut transition = Transition::to(conv, Phase::Ended { reason }, now_ms);
    if let Some(agent) = conv.serving_agent() {
        transition = transition.with(Effect::ReleaseAgent {
            agent: agent.to_owned(),
        });
    }
    if let Phase::Transferring { to, .. } = &conv.phase {
        transition = transition.with(Effect::WithdrawOffer { to: to.clone() });
    }
    transition.announce(Announcement::Ended { reason })
}

/// At most one thing happens per tick: whichever deadline passed first.
fn tick(conv: &Conversation, now_ms: u64, rules: &Rules) -> Transition {
    let idle_deadline = deadline(conv.last_activity_ms, rules.inactivity_timeout_ms);
    let transfer_deadline = match conv.phase {
        Phase::Transferring { since_ms, .. } => deadline(since_ms, rules.transfer_timeout_ms),
        _ => u64::MAX,
    };
    if transfer_deadline <= now_ms && transfer_deadline < idle_deadline {
        fall_back(conv, TransferFailure::TimedOut, now_ms)
    } else if idle_deadline <= now_ms {
        end(conv, EndReason::Inactivity, now_ms)
    } else {
        Transition::nothing(conv)
    }
}
