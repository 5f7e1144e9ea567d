// The pure ledger math: reservations under caps (idempotent per admission uid), the reconciler's
// corrections from Pods, TTL expiry, and the TPPLedger spec round trip.
#include "webhook/ledger_model.hpp"

#include <gtest/gtest.h>

#include "webhook/rfc3339.hpp"

namespace wh = exportgate::webhook;
using namespace std::chrono_literals;

namespace {

wh::SystemTime at(int seconds) {
  return wh::SystemTime(std::chrono::seconds(1'700'000'000 + seconds));
}

wh::LedgerReservation res(std::string uid, std::string tenant, double tpp, int created = 0) {
  return {std::move(uid), std::move(tenant), tpp, "ns", "", at(created), "", false, 0};
}

}  // namespace

TEST(LedgerModel, ReservesUpToTheTenantCapExactly) {
  wh::LedgerState s;
  s.jurisdiction = "IN";
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    admitted +=
        wh::try_reserve(s, res("u" + std::to_string(i), "t2", 126656), 10 * 126656.0, std::nullopt);
  }
  EXPECT_EQ(admitted, 10);
  EXPECT_DOUBLE_EQ(s.tenant_total("t2"), 10 * 126656.0);
  EXPECT_DOUBLE_EQ(s.reserved(), 10 * 126656.0);
}

TEST(LedgerModel, JurisdictionCapCountsEveryTenant) {
  wh::LedgerState s;
  s.tenants["a"].in_use = 900;
  EXPECT_FALSE(wh::try_reserve(s, res("u1", "b", 200), std::nullopt, 1000.0));
  EXPECT_TRUE(wh::try_reserve(s, res("u2", "b", 100), std::nullopt, 1000.0));
  EXPECT_DOUBLE_EQ(s.total(), 1000);
}

TEST(LedgerModel, SameUidIsAcceptedOnceWithoutCountingTwice) {
  wh::LedgerState s;
  EXPECT_TRUE(wh::try_reserve(s, res("u1", "t", 100), 150.0, std::nullopt));
  EXPECT_TRUE(wh::try_reserve(s, res("u1", "t", 100), 150.0, std::nullopt));
  EXPECT_EQ(s.reservations.size(), 1u);
}

TEST(LedgerModel, ReconcileSetsUsageFromPodsAndHandsOverClaimedReservations) {
  wh::LedgerState s;
  s.tenants["t"].in_use = 500;  // drifted: a pod finished
  ASSERT_TRUE(wh::try_reserve(s, res("claimed", "t", 100, 0), std::nullopt, std::nullopt));
  ASSERT_TRUE(wh::try_reserve(s, res("young", "t", 100, 25), std::nullopt, std::nullopt));
  ASSERT_TRUE(wh::try_reserve(s, res("old", "t", 100, 0), std::nullopt, std::nullopt));
  wh::ReconcileInput in{{{"t", 300}}, {{"claimed", {"ns", "p", 100, true}}}, at(31), 30s};
  auto r = wh::reconcile_ledger(s, in);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.usage_corrections, 1);
  EXPECT_EQ(r.claimed, 1);
  EXPECT_EQ(r.expired, 1);
  ASSERT_EQ(s.reservations.size(), 1u);
  EXPECT_EQ(s.reservations[0].uid, "young");
  EXPECT_DOUBLE_EQ(s.tenants["t"].in_use, 300);
  EXPECT_DOUBLE_EQ(s.tenant_total("t"), 400);
}

// Issue 13: in cluster mode any stored Pod carrying a reservation's admission uid ended it, so a
// spoofed exportgate.io/admission-uid (set past /mutate, by update or through pods/status) on a
// pod that holds nothing dropped another request's reservation before its pod was counted.
TEST(LedgerModel, OnlyThePodTheReservationRecordsCanClaimIt) {
  auto reservation = [] {
    wh::LedgerReservation r = res("uid-x", "t", 126656, 0);
    r.namespace_ = "team";
    r.pod = "train";
    return r;
  };
  auto kept_after = [&](wh::PodClaim pod, wh::LedgerReservation r) {
    wh::LedgerState s;
    EXPECT_TRUE(wh::try_reserve(s, r, std::nullopt, std::nullopt));
    wh::ReconcileInput in{{}, {{"uid-x", pod}}, at(1), 30s};
    wh::reconcile_ledger(s, in);
    return s.reservations.size();
  };
  // The right pod: claimed.
  EXPECT_EQ(kept_after({"team", "train", 126656, true}, reservation()), 0u);
  EXPECT_EQ(kept_after({"team", "train", 126656, false}, reservation()), 0u);  // finished
  // Spoofs: another pod name, another namespace, a pod holding less than the reservation.
  EXPECT_EQ(kept_after({"team", "cpu-pod", 0, false}, reservation()), 1u);
  EXPECT_EQ(kept_after({"team", "cpu-pod", 126656, true}, reservation()), 1u);
  EXPECT_EQ(kept_after({"other", "train", 126656, true}, reservation()), 1u);
  EXPECT_EQ(kept_after({"team", "train", 15832, true}, reservation()), 1u);
  // A reservation made without a pod name (generateName): only a counted pod of at least its
  // TPP in its namespace.
  auto unnamed = reservation();
  unnamed.pod = "";
  EXPECT_EQ(kept_after({"team", "train-x7k2p", 126656, true}, unnamed), 0u);
  EXPECT_EQ(kept_after({"team", "train-x7k2p", 126656, false}, unnamed), 1u);
  EXPECT_EQ(kept_after({"team", "train-x7k2p", 0, false}, unnamed), 1u);
}

// Issue 17: the stored Pod carries the uid of the /mutate call (its annotation), the reservation
// was made by the /validate call, whose uid differs: it is claimed by the stamped one it records.
TEST(LedgerModel, AReservationIsClaimedByTheUidMutateStamped) {
  wh::LedgerReservation r = res("validate-uid", "t", 126656, 0);
  r.namespace_ = "team";
  r.pod = "train-x7k2p";
  r.claim_uid = "mutate-uid";
  wh::LedgerState s;
  ASSERT_TRUE(wh::try_reserve(s, r, std::nullopt, std::nullopt));
  s = wh::ledger_from_spec(wh::ledger_to_spec(s));  // kept in the TPPLedger
  ASSERT_EQ(s.reservations.at(0).claim_uid, "mutate-uid");
  const wh::PodClaim pod{"team", "train-x7k2p", 126656, true};
  wh::ReconcileInput by_validate{{{"t", 126656}}, {{"validate-uid", pod}}, at(1), 30s};
  wh::reconcile_ledger(s, by_validate);
  EXPECT_DOUBLE_EQ(s.tenant_total("t"), 2 * 126656);  // not its uid: still counted beside the Pod
  wh::ReconcileInput by_mutate{{{"t", 126656}}, {{"mutate-uid", pod}}, at(1), 30s};
  EXPECT_EQ(wh::reconcile_ledger(s, by_mutate).claimed, 1);
  EXPECT_TRUE(s.reservations.empty());
  EXPECT_DOUBLE_EQ(s.tenant_total("t"), 126656);
}

TEST(LedgerModel, ReconcileOfAConsistentLedgerChangesNothing) {
  wh::LedgerState s;
  s.tenants["t"].in_use = 300;
  wh::ReconcileInput in{{{"t", 300}}, {}, at(0), 30s};
  EXPECT_FALSE(wh::reconcile_ledger(s, in).changed);
}

TEST(LedgerModel, FinishedTenantsDisappear) {
  wh::LedgerState s;
  s.tenants["gone"].in_use = 300;
  wh::ReconcileInput in{{}, {}, at(0), 30s};
  auto r = wh::reconcile_ledger(s, in);
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(s.tenants.empty());
}

TEST(LedgerModel, SpecRoundTrip) {
  wh::LedgerState s;
  s.jurisdiction = "SG";
  s.tenants["t"].in_use = 126656;
  ASSERT_TRUE(wh::try_reserve(s, res("u1", "t", 1000.5, 3), std::nullopt, std::nullopt));
  s.last_reconcile = at(4);
  auto spec = wh::ledger_to_spec(s);
  EXPECT_EQ(spec["inUseTPP"], 126656);
  EXPECT_EQ(spec["reservedTPP"], 1000.5);
  EXPECT_EQ(spec["tenants"]["t"]["reservedTPP"], 1000.5);
  auto back = wh::ledger_from_spec(spec);
  EXPECT_EQ(back.jurisdiction, "SG");
  EXPECT_DOUBLE_EQ(back.tenants["t"].in_use, 126656);
  EXPECT_DOUBLE_EQ(back.tenants["t"].reserved, 1000.5);
  ASSERT_EQ(back.reservations.size(), 1u);
  EXPECT_EQ(back.reservations[0].created, at(3));
  EXPECT_EQ(back.last_reconcile, at(4));
}

TEST(LedgerModel, MalformedSpecNamesTheField) {
  nlohmann::json spec = {{"reservations", {{{"uid", "u"}, {"tenant", "t"}, {"tpp", -1}}}}};
  try {
    wh::ledger_from_spec(spec);
    FAIL() << "no error";
  } catch (const wh::LedgerFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("spec.reservations[0].tpp"), std::string::npos);
  }
}

// A lease's generation is an integer: a huge or fractional number is a malformed ledger with the
// field named, not a value cast into range (1e300 to uint64 is undefined behaviour).
TEST(LedgerModel, ALeaseGenerationThatIsNotAnIntegerIsMalformed) {
  for (const nlohmann::json& generation :
       {nlohmann::json(1e300), nlohmann::json(1.5), nlohmann::json(-1), nlohmann::json("7")}) {
    nlohmann::json spec = {
        {"leases", {{{"holder", "r/1"}, {"tenant", "t"}, {"tpp", 1}, {"generation", generation}}}}};
    try {
      wh::ledger_from_spec(spec);
      ADD_FAILURE() << generation << ": accepted";
    } catch (const wh::LedgerFormatError& e) {
      EXPECT_NE(std::string(e.what()).find("spec.leases[0].generation"), std::string::npos)
          << e.what();
    }
  }
  nlohmann::json ok = {
      {"leases", {{{"holder", "r/1"}, {"tenant", "t"}, {"tpp", 1}, {"generation", 7}}}}};
  EXPECT_EQ(wh::ledger_from_spec(ok).leases.at(0).generation, 7u);
}

// countedThrough orders Pod revisions against the reconciler's count: anything but a plain
// number is a malformed ledger, never read as some other revision (stoull took "-1" as 2^64-1).
TEST(LedgerModel, ACountedThroughThatIsNotARevisionNumberIsMalformed) {
  for (const char* through : {"12abc", "-1", " 12", "99999999999999999999999"}) {
    try {
      wh::ledger_from_spec({{"countedThrough", through}});
      ADD_FAILURE() << through << ": accepted";
    } catch (const wh::LedgerFormatError& e) {
      EXPECT_NE(std::string(e.what()).find("spec.countedThrough"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(wh::ledger_from_spec({{"countedThrough", "1234"}}).counted_through, 1234u);
}

TEST(LedgerModel, ObjectNames) {
  EXPECT_EQ(wh::ledger_object_name("IN"), "jurisdiction-in");
  EXPECT_EQ(wh::ledger_object_name(""), "jurisdiction-unknown");
}

TEST(LedgerModel, TimesRoundTripWithMicroseconds) {
  auto t = at(0) + 123456us;
  EXPECT_EQ(wh::format_time(t), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(wh::parse_time("2023-11-14T22:13:20.123456Z"), t);
  EXPECT_EQ(wh::parse_time("2023-11-14T22:13:20Z"), at(0));
  EXPECT_EQ(wh::parse_time("2023-11-15T00:13:20+02:00"), at(0));
  EXPECT_FALSE(wh::parse_time("2023-11-14 22:13:20"));
  EXPECT_FALSE(wh::parse_time("2023-11-14T22:13:20"));
  // Out of SystemTime's range (its nanoseconds overflowed: fuzz_ledger), or not a date at all.
  EXPECT_FALSE(wh::parse_time("2664-12-03T11:00:00Z"));
  EXPECT_FALSE(wh::parse_time("2023-13-14T22:13:20Z"));
  EXPECT_FALSE(wh::parse_time("2023-11-14T25:13:20Z"));
  EXPECT_FALSE(wh::parse_time("2023-11-14T22:13:20+99:00"));
}
