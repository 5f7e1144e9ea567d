// LeaseBook: the bookkeeping of a replica's leased headroom, on ledger states built by hand and
// with the time passed in. What must hold: nothing is admitted past what the object holds for
// the holder, in every outcome of the write that changes it.
#include "webhook/lease_book.hpp"

#include <gtest/gtest.h>

namespace exportgate::webhook {
namespace {

using Steady = LeaseBook::Steady;
using namespace std::chrono_literals;

constexpr double kPod = 126656;  // 8 x H100

LeaseSettings settings() {
  LeaseSettings s;
  s.enabled = true;
  s.holder = "replica-a/0001";
  return s;
}

LedgerReservation pod(const std::string& uid) {
  LedgerReservation r;
  r.uid = uid;
  r.tenant = "acme";
  r.tpp = kPod;
  r.namespace_ = "acme";
  r.pod = uid;
  r.created = std::chrono::system_clock::now();
  return r;
}

struct Book {
  LeaseBook book{settings()};
  LedgerState state = [] {  // the object as the API server holds it
    LedgerState s;
    s.jurisdiction = "IN";
    return s;
  }();
  Steady::time_point now = Steady::now();
  double cap = 100 * kPod;

  bool admit(const std::string& uid) {
    return book.try_consume("IN", pod(uid), cap, std::nullopt, now);
  }
  // One flush whose write ends with `outcome`; the object takes the plan only when written.
  bool flush(LeaseBook::Outcome outcome = LeaseBook::Outcome::kWritten) {
    const auto token = book.begin("IN");
    LedgerState next = state;
    const bool changed = book.plan("IN", token, next, std::chrono::system_clock::now(), now);
    if (changed && outcome != LeaseBook::Outcome::kNotWritten) state = next;
    book.finish("IN", token, changed ? outcome : LeaseBook::Outcome::kNotWritten, now);
    return changed;
  }
  double leased() const { return state.leased("acme"); }
  // A first request (per request: no lease yet), then the flush that grants a lease for more.
  bool lease_granted() {
    admit("seed");
    return flush() && leased() > kPod;
  }
};

TEST(LeaseBook, GrantsAShareOfTheRoomAndAdmitsOnlyWithinIt) {
  Book b;
  b.state.tenants["acme"].in_use = 40 * kPod;
  EXPECT_FALSE(b.admit("first"));  // no lease yet: the per-request path
  ASSERT_TRUE(b.flush());
  // 60 Pods of room, three replicas assumed: at most a sixth of it, and the demand seen.
  EXPECT_GT(b.leased(), 0);
  EXPECT_LE(b.leased(), 60 * kPod / 6);
  EXPECT_LE(b.state.tenant_total("acme"), b.cap);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += b.admit("p" + std::to_string(i));
  EXPECT_GE(admitted, 1);
  EXPECT_LE(admitted * kPod, b.leased() + 1e-6) << "admitted past the lease";
  // The flush moves them into reservations, each counted once, all within the cap.
  b.now += 1ms;
  ASSERT_TRUE(b.flush());
  EXPECT_EQ(b.state.reservations.size(), static_cast<size_t>(admitted));
  EXPECT_GE(b.state.tenant_total("acme") + 1e-6, 40 * kPod + admitted * kPod);
  EXPECT_LE(b.state.tenant_total("acme"), b.cap);
}

// Each write sends the whole object: a replica with room left in its lease does not write at
// every flush interval, only once its admissions wait too long for their reservations, its
// lease runs low, or its term needs renewing.
TEST(LeaseBook, AFlushWritesOnlyWhenSomethingNeedsIt) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  ASSERT_GT(b.leased(), 4 * kPod);
  ASSERT_TRUE(b.admit("one"));
  b.now += 100ms;
  EXPECT_FALSE(b.flush()) << "wrote with most of the lease left and a fresh admission";
  Book c;
  ASSERT_TRUE(c.lease_granted());
  c.book.try_consume(
      "IN",
      [] {
        LedgerReservation r = pod("old");
        r.created -= std::chrono::seconds(2);  // admitted longer ago than max_unflushed
        return r;
      }(),
      c.cap, std::nullopt, c.now);
  c.now += 100ms;
  EXPECT_TRUE(c.flush());
  EXPECT_TRUE(c.state.holds("old"));
}

TEST(LeaseBook, NothingIsAdmittedUnderALeasePastItsTerm) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  EXPECT_TRUE(b.admit("in-term"));
  b.now += settings().term;  // the holder's deadline, measured from before the write
  EXPECT_FALSE(b.admit("past-term"));
}

TEST(LeaseBook, AWriteWithAnUnknownOutcomeLeavesTheSmallerRoom) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  // Demand stops: the next flush returns the lease (idle), and its answer is lost.
  b.now += settings().idle + 1ms;
  ASSERT_TRUE(b.flush(LeaseBook::Outcome::kUnknown));
  EXPECT_EQ(b.leased(), 0) << "the API server took the write";
  EXPECT_FALSE(b.admit("after-lost-answer")) << "admitted under a lease the object no longer holds";
}

TEST(LeaseBook, ALeaseIsNotUsedForRequestsUnderTighterCaps) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  b.cap = 50 * kPod;  // a reload lowered the tenant cap
  EXPECT_FALSE(b.admit("tighter"));
  // And it is given back at the next flush rather than kept.
  b.now += 1ms;
  ASSERT_TRUE(b.flush());
  EXPECT_EQ(b.leased(), 0);
}

TEST(LeaseBook, AReclaimMarkEmptiesTheLeaseAndNoneIsGrantedDuringTheCooldown) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  ASSERT_TRUE(b.admit("used"));
  b.state.reclaim = "2026-12-03T11:00:00Z replica-b";
  b.now += 1ms;
  ASSERT_TRUE(b.flush());
  EXPECT_EQ(b.leased(), 0);
  EXPECT_TRUE(b.state.holds("used")) << "what was admitted is kept as a reservation";
  EXPECT_FALSE(b.admit("during-cooldown"));
  b.now += 1ms;
  EXPECT_FALSE(b.flush()) << "a lease granted during the cooldown";
}

TEST(LeaseBook, APlanAfterItsFlushGaveUpChangesNothing) {
  Book b;
  b.admit("seed");
  const auto token = b.book.begin("IN");
  b.book.finish("IN", token, LeaseBook::Outcome::kUnknown, b.now);
  LedgerState late = b.state;
  EXPECT_FALSE(b.book.plan("IN", token, late, std::chrono::system_clock::now(), b.now));
  EXPECT_TRUE(late.leases.empty());
}

TEST(LeaseBook, NoLeaseNearTheCap) {
  Book b;
  b.state.tenants["acme"].in_use = 90 * kPod;  // room for 10 Pods: under 16 of the largest
  b.admit("seed");
  EXPECT_FALSE(b.flush());
  EXPECT_TRUE(b.state.leases.empty());
}

TEST(LeaseBook, UnusedHeadroomIsFreeForTheHoldersOwnDecisions) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  const double lease = b.leased();
  EXPECT_DOUBLE_EQ(b.book.unused("IN", "acme", b.state), lease);
  ASSERT_TRUE(b.admit("one"));
  ASSERT_TRUE(b.admit("two"));
  EXPECT_DOUBLE_EQ(b.book.unused("IN", "acme", b.state), lease - 2 * kPod);
  // Once the object holds one as a reservation (a write whose answer was lost), the lease no
  // longer covers it there: only the other is still drawn from the lease.
  b.state.reservations.push_back(pod("one"));
  EXPECT_DOUBLE_EQ(b.book.unused("IN", "acme", b.state), lease - kPod);
}

// A lease admission whose Pod the ledger's in-use figure already counts (countedThrough at or
// past the revision this replica saw the Pod at) leaves the lease without a reservation: the
// object does not grow with every Pod admitted. Before that, and for any other Pod carrying its
// uid, it becomes a reservation as usual.
TEST(LeaseBook, AnAdmissionWhosePodIsCountedNeedsNoReservation) {
  Book b;
  ASSERT_TRUE(b.lease_granted());
  ASSERT_TRUE(b.admit("counted"));
  ASSERT_TRUE(b.admit("not-yet"));
  ASSERT_TRUE(b.admit("impostor"));
  b.book.pod_seen("counted", {"acme", "counted", kPod, true}, 50);
  b.book.pod_seen("not-yet", {"acme", "not-yet", kPod, true}, 70);
  b.book.pod_seen("impostor", {"acme", "some-other-pod", kPod, true}, 50);  // a copied uid
  b.state.counted_through = 60;
  b.state.tenants["acme"].in_use = kPod;  // the reconciler counted "counted"
  b.now += 1ms;
  b.state.reclaim = "give it all back";  // forces the flush of every logged admission
  ASSERT_TRUE(b.flush());
  EXPECT_FALSE(b.state.holds("counted"));
  EXPECT_TRUE(b.state.holds("not-yet"));
  EXPECT_TRUE(b.state.holds("impostor"));
  // Given back (reclaim): what the caps see is the three admitted Pods, each once.
  EXPECT_NEAR(b.state.tenant_total("acme"), 3 * kPod, 1e-3);
}

}  // namespace
}  // namespace exportgate::webhook
