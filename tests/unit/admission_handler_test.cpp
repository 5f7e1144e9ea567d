// The admission decision path without the network: mutation patches, the usage ledger (CAS,
// replace by key, release), and the per-operation rules of handle_admission.
#include "webhook/admission_handler.hpp"

#include <gtest/gtest.h>

#include "policy/policy_loader.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "webhook/mutation.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

json h100_pod(const std::string& ns, const std::string& name, int gpus) {
  return testing::gpu_pod(ns, name, gpus);
}

AdmissionRequest pod_request(const std::string& uid, const std::string& ns, const std::string& name,
                             int gpus) {
  return testing::pod_create(uid, ns, name, h100_pod(ns, name, gpus));
}

AdmissionRequest pod_delete(const std::string& uid, const std::string& ns,
                            const std::string& name) {
  AdmissionRequest del;
  del.uid = uid;
  del.kind = {"", "v1", "Pod"};
  del.resource = "pods";
  del.operation = "DELETE";
  del.namespace_ = ns;
  del.name = name;
  return del;
}

policy::Policy sg_policy(double cap) {
  auto p = policy::load_preset(policy::kDefaultPreset);
  policy::Tenant t;
  t.name = "sg";
  t.jurisdiction = "SG";
  t.namespaces = {"sg"};
  t.cap_tpp = cap;
  p.tenants.push_back(t);
  p.admins.groups = {"admins"};
  return p;
}

TEST(Mutation, PatchCreatesAnnotationsAndEscapesSlashes) {
  json obj = {{"metadata", {{"name", "x"}}}};
  json patch = annotation_patch(obj, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(patch.size(), 1u);
  EXPECT_EQ(patch[0]["op"], "add");
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations");
  EXPECT_EQ(obj.patch(patch)["metadata"]["annotations"]["exportgate.io/tpp"], "5");

  json with = {{"metadata", {{"annotations", {{"a", "b"}}}}}};
  json p2 = annotation_patch(with, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(p2[0]["path"], "/metadata/annotations/exportgate.io~1tpp");

  json stale = {{"metadata", {{"annotations", {{"exportgate.io/tpp", "4"}}}}}};
  json p3 = annotation_patch(stale, {{"exportgate.io/tpp", "5"}});
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_EQ(p3[0]["op"], "replace");

  json same = {{"metadata", {{"annotations", {{"exportgate.io/tpp", "5"}}}}}};
  EXPECT_TRUE(annotation_patch(same, {{"exportgate.io/tpp", "5"}}).empty());
}

// Issue 13: /mutate left a client's own exportgate.io/ annotations on objects it did not patch
// (a CPU pod kept a spoofed admission-uid), and kept unknown ones next to the ones it set.
TEST(Mutation, ClientSetExportgateAnnotationsAreRemovedOrOverwritten) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  const json spoofed = {{"exportgate.io/admission-uid", "someone-elses-uid"},
                        {"exportgate.io/tpp", "0"},
                        {"exportgate.io/anything~else", "x"},
                        {"team", "ml"}};
  auto patched = [&](AdmissionRequest r, bool cluster) {
    AdmissionEnv env;
    env.annotate_admission_uid = cluster;
    auto out = handle_admission(r, Endpoint::kMutate, policy, ledger, env);
    return out.response.patch ? r.object.patch(*out.response.patch) : r.object;
  };

  auto cpu = pod_request("uid-cpu", "sg", "web", 0);
  cpu.object["spec"]["containers"][0]["resources"] = json::object();
  cpu.object["metadata"]["annotations"] = spoofed;
  for (bool cluster : {false, true}) {
    json ann = patched(cpu, cluster)["metadata"]["annotations"];
    EXPECT_EQ(ann, json({{"team", "ml"}})) << ann.dump();
  }

  auto gpu = pod_request("uid-gpu", "sg", "train", 8);
  gpu.object["metadata"]["annotations"] = spoofed;
  json standalone = patched(gpu, false)["metadata"]["annotations"];
  EXPECT_FALSE(standalone.contains("exportgate.io/admission-uid")) << standalone.dump();
  EXPECT_FALSE(standalone.contains("exportgate.io/anything~else"));
  EXPECT_EQ(standalone["exportgate.io/tpp"], "126656");
  EXPECT_EQ(standalone["team"], "ml");
  json cluster = patched(gpu, true)["metadata"]["annotations"];
  EXPECT_EQ(cluster["exportgate.io/admission-uid"], "uid-gpu");
  EXPECT_FALSE(cluster.contains("exportgate.io/anything~else"));

  // A malformed object is not denied by /mutate, and still loses the client's annotations.
  auto bad = cpu;
  bad.object["spec"]["containers"] = "not-a-list";
  json ann = patched(bad, true)["metadata"]["annotations"];
  EXPECT_EQ(ann, json({{"team", "ml"}})) << ann.dump();
}

TEST(UsageLedgerTest, ReserveRespectsCapsAtomicallyAndReplacesByKey) {
  InMemoryLedger l;
  EXPECT_TRUE(l.reserve({"ns/a", "t", "SG", 60}, 100.0, std::nullopt));
  EXPECT_FALSE(l.reserve({"ns/b", "t", "SG", 60}, 100.0, std::nullopt));
  EXPECT_TRUE(l.reserve({"ns/b", "t", "SG", 40}, 100.0, std::nullopt));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 100);
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").jurisdiction_tpp, 100);
  // Same key again with less: the held charge stays (usage is never lowered by a create).
  EXPECT_TRUE(l.reserve({"ns/a", "t", "SG", 50}, 100.0, std::nullopt));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 100);
  // Jurisdiction cap applies across tenants.
  EXPECT_FALSE(l.reserve({"ns2/c", "u", "SG", 20}, std::nullopt, 100.0));
  // Release is by key and happens once.
  auto r = l.release("ns/a");
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->tpp, 60);
  EXPECT_FALSE(l.release("ns/a"));
  EXPECT_DOUBLE_EQ(l.snapshot("t", "SG").tenant_tpp, 40);
  EXPECT_EQ(l.totals().tenants.at("t"), 40);
}

TEST(AdmissionHandler, ValidateReservesForPodCreateOnlyAndReleasesOnDelete) {
  auto policy = sg_policy(200000);  // one 8 x H100 pod is 126,656 TPP
  InMemoryLedger ledger;
  auto first =
      handle_admission(pod_request("1", "sg", "a", 8), Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(first.response.allowed);
  EXPECT_EQ(first.response.audit_annotations.at("tpp"), "126656");
  auto second =
      handle_admission(pod_request("2", "sg", "b", 8), Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(second.response.allowed);
  EXPECT_EQ(second.response.status_code, 403);
  EXPECT_EQ(second.decision, "deny");
  EXPECT_TRUE(second.record.is_object());
  EXPECT_EQ(second.record["tenant"], "sg");

  // /mutate never reserves.
  handle_admission(pod_request("3", "sg", "c", 1), Endpoint::kMutate, policy, ledger);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 126656);

  AdmissionRequest del = pod_delete("4", "sg", "a");
  del.old_object = h100_pod("sg", "a", 8);
  auto d = handle_admission(del, Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(d.response.allowed);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 0);
  EXPECT_TRUE(handle_admission(pod_request("5", "sg", "b", 8), Endpoint::kValidate, policy, ledger)
                  .response.allowed);
}

// Issue 13: a forged DELETE review with no oldObject, sent by anything that reaches the port,
// released the reservation. The apiserver always sends the pod it deletes.
TEST(AdmissionHandler, DeleteWithoutTheDeletedPodReleasesNothing) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  ASSERT_TRUE(handle_admission(pod_request("1", "sg", "a", 8), Endpoint::kValidate, policy, ledger)
                  .response.allowed);
  auto bare = pod_delete("2", "sg", "a");
  EXPECT_TRUE(handle_admission(bare, Endpoint::kValidate, policy, ledger).response.allowed);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 126656);
  // An oldObject that is some other pod does not count either.
  auto other = pod_delete("3", "sg", "a");
  other.old_object = h100_pod("sg", "b", 8);
  handle_admission(other, Endpoint::kValidate, policy, ledger);
  auto elsewhere = pod_delete("4", "sg", "a");
  elsewhere.old_object = h100_pod("other", "a", 8);
  handle_admission(elsewhere, Endpoint::kValidate, policy, ledger);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 126656);
  EXPECT_FALSE(handle_admission(pod_request("5", "sg", "b", 8), Endpoint::kValidate, policy, ledger)
                   .response.allowed);
  // The apiserver's own review (with the pod) releases it.
  auto real = pod_delete("6", "sg", "a");
  real.old_object = h100_pod("sg", "a", 8);
  handle_admission(real, Endpoint::kValidate, policy, ledger);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 0);
}

// Issue 13: re-submitting a running pod's name with a one-GPU spec replaced its 8-GPU
// reservation with the smaller one.
TEST(AdmissionHandler, ResubmittedPodNameNeverLowersItsReservation) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  ASSERT_TRUE(handle_admission(pod_request("1", "sg", "a", 8), Endpoint::kValidate, policy, ledger)
                  .response.allowed);
  handle_admission(pod_request("2", "sg", "a", 1), Endpoint::kValidate, policy, ledger);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 126656);
  EXPECT_FALSE(handle_admission(pod_request("3", "sg", "b", 8), Endpoint::kValidate, policy, ledger)
                   .response.allowed);
}

TEST(AdmissionHandler, DryRunAndPodUpdatesReserveNothing) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  auto dry = pod_request("1", "sg", "a", 8);
  dry.dry_run = true;
  EXPECT_TRUE(handle_admission(dry, Endpoint::kValidate, policy, ledger).response.allowed);
  auto upd = pod_request("2", "sg", "a", 8);
  upd.operation = "UPDATE";
  EXPECT_TRUE(handle_admission(upd, Endpoint::kValidate, policy, ledger).response.allowed);
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 0);
}

TEST(AdmissionHandler, MalformedObjectIsDeniedWithTheReason) {
  auto policy = sg_policy(200000);
  InMemoryLedger ledger;
  auto r = pod_request("1", "sg", "a", 8);
  r.object["spec"]["containers"] = "not-a-list";
  auto out = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(out.response.allowed);
  EXPECT_EQ(out.response.status_code, 400);
  EXPECT_EQ(out.decision, "error");
}

TEST(AdmissionHandler, WorkloadUpdateDoesNotCountItsOwnPodsTwice) {
  auto policy = sg_policy(300000);
  InMemoryLedger ledger;
  // Two running pods of the deployment hold 253,312 TPP.
  ASSERT_TRUE(ledger.reserve({"sg/d-1", "sg", "SG", 126656}, std::nullopt, std::nullopt));
  ASSERT_TRUE(ledger.reserve({"sg/d-2", "sg", "SG", 126656}, std::nullopt, std::nullopt));
  json pod = h100_pod("sg", "d", 8);
  json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "d"}, {"namespace", "sg"}}},
                 {"spec", {{"replicas", 2}, {"template", {{"spec", pod["spec"]}}}}}};
  json relabeled = deploy;
  relabeled["metadata"]["labels"] = {{"x", "y"}};
  AdmissionRequest r;
  r.uid = "u";
  r.kind = {"apps", "v1", "Deployment"};
  r.operation = "UPDATE";
  r.namespace_ = "sg";
  r.name = "d";
  r.object = relabeled;
  r.old_object = deploy;
  EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed);
  // Scaling it to 3 would exceed the cap.
  r.object["spec"]["replicas"] = 3;
  EXPECT_FALSE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed);
}

TEST(AdmissionHandler, PolicyAdminsByUserOrGroup) {
  auto policy = sg_policy(1);
  policy.admins.users = {"root@x"};
  EXPECT_TRUE(is_policy_admin(policy, "root@x", {}));
  EXPECT_TRUE(is_policy_admin(policy, "bob", {"dev", "admins"}));
  EXPECT_FALSE(is_policy_admin(policy, "bob", {"dev"}));
  EXPECT_FALSE(is_policy_admin(policy, "", {}));
}

// Moving a namespace to another jurisdiction changes what its tenant may run: an admin's relabel
// is allowed and leaves a record (the decision log's evidence of who moved whom, and when); a
// non-admin's is denied and recorded as such; other label changes leave nothing.
TEST(AdmissionHandler, NamespaceRelabelsAreRecorded) {
  auto policy = sg_policy(1);
  InMemoryLedger ledger;
  json before = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata",
       {{"name", "team-x"}, {"labels", {{"team", "x"}, {"exportgate.io/jurisdiction", "DE"}}}}}};
  json after = before;
  after["metadata"]["labels"]["exportgate.io/jurisdiction"] = "CN";
  AdmissionRequest r = testing::namespace_update("relabel-1", before, after, "carol", {"admins"});
  auto admin = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_TRUE(admin.response.allowed);
  ASSERT_TRUE(admin.record.is_object());
  EXPECT_EQ(admin.record["decision"], "allow");
  EXPECT_EQ(admin.record["code"], "namespace-label-change");
  EXPECT_EQ(admin.record["user"], "carol");
  EXPECT_EQ(admin.record["namespace"], "team-x");
  EXPECT_EQ(admin.record["labels_before"]["exportgate.io/jurisdiction"], "DE");
  EXPECT_EQ(admin.record["labels_after"]["exportgate.io/jurisdiction"], "CN");
  EXPECT_FALSE(admin.record["labels_after"].contains("team"));  // only exportgate.io/ labels
  EXPECT_EQ(admin.record["policy_hash"], policy.hash);
  const std::string reason = admin.record["reasons"][0];
  EXPECT_NE(reason.find("exportgate.io/jurisdiction \"DE\" -> \"CN\""), std::string::npos)
      << reason;

  r.groups = {"dev"};
  auto denied = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(denied.response.allowed);
  EXPECT_EQ(denied.record["code"], "namespace-label-guard");

  json other = before;
  other["metadata"]["labels"]["team"] = "y";
  r.object = other;
  EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).record.is_null());
}

// Issue 13: label edits through the namespaces/status and namespaces/finalize subresources were
// not guarded (the apiserver keeps metadata changes made through both).
TEST(AdmissionHandler, NamespaceSubresourcesAreGuardedToo) {
  auto policy = sg_policy(1);
  InMemoryLedger ledger;
  json before = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", {{"name", "team-x"}, {"labels", {{"exportgate.io/jurisdiction", "CN"}}}}}};
  json after = before;
  after["metadata"]["labels"]["exportgate.io/jurisdiction"] = "US";
  for (const char* sub : {"status", "finalize"}) {
    AdmissionRequest r =
        testing::namespace_update(std::string("sub-") + sub, before, after, "mallory", {});
    r.sub_resource = sub;
    auto out = handle_admission(r, Endpoint::kValidate, policy, ledger);
    EXPECT_FALSE(out.response.allowed) << sub;
    EXPECT_EQ(out.response.status_code, 403) << sub;
    EXPECT_EQ(out.record["code"], "namespace-label-guard") << sub;
    // A status update that leaves the labels alone passes.
    r.object = before;
    r.object["status"] = {{"phase", "Terminating"}};
    EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed) << sub;
    // An admin may.
    r.object = after;
    r.groups = {"admins"};
    EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed) << sub;
  }
}

}  // namespace
}  // namespace exportgate::webhook

namespace exportgate::webhook {
namespace {

// Issue 17: a Job that Kueue holds (suspended, with a queue name) over the tenant cap would only
// wait in its queue: admitted with the cap's reason as a warning. Without the queue label, or
// not suspended, it is denied as before; a jurisdiction denial stays a denial in a queue too.
TEST(AdmissionHandler, KueueQueuedWorkloadIsNotDeniedForACapItWouldWaitFor) {
  auto policy = sg_policy(200000);  // one 8 x H100 pod (126,656) fits, two do not
  InMemoryLedger ledger;
  json pod = h100_pod("sg", "j", 8);
  auto job = [&](const std::string& ns, int parallelism, bool suspend, bool queued) {
    json j = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "j"}, {"namespace", ns}}},
              {"spec",
               {{"parallelism", parallelism},
                {"suspend", suspend},
                {"template", {{"spec", pod["spec"]}}}}}};
    if (queued) j["metadata"]["labels"] = {{"kueue.x-k8s.io/queue-name", "gpu"}};
    AdmissionRequest r;
    r.uid = "u";
    r.kind = {"batch", "v1", "Job"};
    r.operation = "CREATE";
    r.namespace_ = ns;
    r.name = "j";
    r.object = j;
    return handle_admission(r, Endpoint::kValidate, policy, ledger);
  };
  auto queued = job("sg", 2, true, true);
  EXPECT_TRUE(queued.response.allowed);
  EXPECT_EQ(queued.decision, "warn");
  ASSERT_FALSE(queued.response.warnings.empty());
  EXPECT_NE(queued.response.warnings[0].find("Kueue queue"), std::string::npos);
  EXPECT_NE(queued.response.warnings[0].find("(tenant-cap;"), std::string::npos)
      << queued.response.warnings[0];
  EXPECT_FALSE(job("sg", 2, false, true).response.allowed);  // not suspended
  auto unqueued = job("sg", 2, true, false);                 // no queue
  EXPECT_FALSE(unqueued.response.allowed);
  EXPECT_EQ(unqueued.code, "tenant-cap");
  // Tier 3 (CN): denied in a queue as well.
  policy::Tenant cn;
  cn.name = "cn";
  cn.jurisdiction = "CN";
  cn.namespaces = {"cn"};
  policy.tenants.push_back(cn);
  auto tier3 = job("cn", 1, true, true);
  EXPECT_FALSE(tier3.response.allowed);
  EXPECT_EQ(tier3.code, "tier-prohibited");
}

}  // namespace
}  // namespace exportgate::webhook
