// A hashed timing wheel: O(1) arm and disarm, expiry in tick order.
//
// Deadlines in a scanner are many (one per connection), coarse (10 ms is
// plenty) and mostly disarmed before they fire. A wheel of kSlots lists
// indexed by expiry tick serves that: Arm links a node into its slot, Disarm
// unlinks it, Advance walks the slots passed since the last call. A deadline
// more than one revolution away waits in its slot until its tick comes round.
//
// Nodes are intrusive: the owner embeds a TimerNode and must Disarm it before
// destroying it. Not thread-safe; one wheel per engine thread.
#ifndef SMTPSCAN_ENGINE_TIMER_WHEEL_H_
#define SMTPSCAN_ENGINE_TIMER_WHEEL_H_

#include <array>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace smtpscan::engine {

struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  uint64_t expiry_tick = 0;
  bool armed() const { return prev != nullptr; }
};

class TimerWheel {
 public:
  static constexpr size_t kSlots = 1024;  // power of two

  // Ticks of `tick` length; tick 0 starts at `start`.
  TimerWheel(absl::Time start, absl::Duration tick);

  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) `node` to expire at the first tick at or after `when`.
  // A time already past expires at the next Advance.
  void Arm(TimerNode* node, absl::Time when);

  // Unlinks `node` if it is armed; otherwise does nothing.
  void Disarm(TimerNode* node);

  // Fires, in tick order, every node whose tick is at or before `now`'s;
  // each is disarmed before `expired` is called with it. `expired` may Arm
  // or Disarm any node, the fired one included.
  void Advance(absl::Time now, absl::FunctionRef<void(TimerNode*)> expired);

  // The time of the next tick that has a node, bounded by `limit` (to keep
  // the search short); `limit` when nothing is armed that soon.
  absl::Time NextExpiry(absl::Time limit) const;

  size_t armed_count() const { return armed_; }

 private:
  static void Unlink(TimerNode* node);
  static void Append(TimerNode* head, TimerNode* node);
  uint64_t TickOf(absl::Time t) const;
  absl::Time TimeOf(uint64_t tick) const { return start_ + tick * tick_; }

  absl::Time start_;
  absl::Duration tick_;
  uint64_t tick_ns_;      // tick_ in nanoseconds, at least 1
  uint64_t current_ = 0;  // every tick before this one has been processed
  bool advancing_ = false;
  size_t armed_ = 0;
  // Each slot is a circular list with a sentinel head.
  std::array<TimerNode, kSlots> slots_;
};

}  // namespace smtpscan::engine

#endif  // SMTPSCAN_ENGINE_TIMER_WHEEL_H_
