#include "engine/timer_wheel.h"

#include <algorithm>

namespace smtpscan::engine {

TimerWheel::TimerWheel(absl::Time start, absl::Duration tick)
    : start_(start),
      tick_(tick),
      tick_ns_(static_cast<uint64_t>(
          std::max<int64_t>(1, absl::ToInt64Nanoseconds(tick)))) {
  for (TimerNode& head : slots_) {
    head.prev = &head;
    head.next = &head;
  }
}

uint64_t TimerWheel::TickOf(absl::Time t) const {
  if (t <= start_) return 0;
  // Round up: a deadline never fires early. In integer nanoseconds: the
  // general absl::Duration division costs a hundred instructions, and this
  // runs for every phase of every connection. (Saturates after 292 years.)
  const uint64_t ns =
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(t - start_));
  return (ns + tick_ns_ - 1) / tick_ns_;
}

void TimerWheel::Unlink(TimerNode* node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = nullptr;
  node->next = nullptr;
}

void TimerWheel::Append(TimerNode* head, TimerNode* node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

void TimerWheel::Arm(TimerNode* node, absl::Time when) {
  if (node->armed()) {
    Unlink(node);
  } else {
    ++armed_;
  }
  // Inside Advance the current tick's slot is being emptied: a node armed
  // for it now goes to the next tick (at most one tick late) rather than
  // waiting a whole revolution.
  node->expiry_tick = std::max(TickOf(when), current_ + (advancing_ ? 1 : 0));
  Append(&slots_[node->expiry_tick & (kSlots - 1)], node);
}

void TimerWheel::Disarm(TimerNode* node) {
  if (!node->armed()) return;
  Unlink(node);
  --armed_;
}

void TimerWheel::Advance(absl::Time now,
                         absl::FunctionRef<void(TimerNode*)> expired) {
  // The tick `now` lies in has not ended, but deadlines rounded up to it
  // are due: process up to and including it. A long pause is bounded to
  // one revolution plus the tick itself: every slot is visited once.
  const uint64_t target =
      now < start_
          ? 0
          : static_cast<uint64_t>(absl::ToInt64Nanoseconds(now - start_)) /
                tick_ns_;
  if (target >= current_ + kSlots) current_ = target - kSlots + 1;
  advancing_ = true;
  while (current_ <= target) {
    TimerNode& head = slots_[current_ & (kSlots - 1)];
    if (head.next != &head) {
      // Move the slot's nodes to a local list, then take them one by one:
      // a callback may disarm or re-arm any of them (they stay linked, in
      // the local list, until taken), and nodes it arms into this slot go
      // to the slot, not to this pass.
      TimerNode pending;
      pending.next = head.next;
      pending.prev = head.prev;
      pending.next->prev = &pending;
      pending.prev->next = &pending;
      head.next = head.prev = &head;
      while (pending.next != &pending) {
        TimerNode* node = pending.next;
        Unlink(node);
        // A node of a later revolution, or re-armed, keeps waiting.
        if (node->expiry_tick > target) {
          Append(&slots_[node->expiry_tick & (kSlots - 1)], node);
          continue;
        }
        --armed_;
        expired(node);
      }
    }
    ++current_;
  }
  advancing_ = false;
}

absl::Time TimerWheel::NextExpiry(absl::Time limit) const {
  const uint64_t last = TickOf(limit);
  for (uint64_t t = current_; t <= last && t < current_ + kSlots; ++t) {
    const TimerNode& head = slots_[t & (kSlots - 1)];
    for (const TimerNode* n = head.next; n != &head; n = n->next) {
      if (n->expiry_tick <= t) return std::min(TimeOf(t), limit);
    }
  }
  return limit;
}

}  // namespace smtpscan::engine
