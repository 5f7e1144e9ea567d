// An in-memory Kubernetes API for unit tests: objects by path with the API server's optimistic
// concurrency (POST creates or answers 409 AlreadyExists, PUT with a stale resourceVersion
// answers 409 Conflict, every write bumps the resourceVersion), collection lists, and faults
// injected per request. It knows nothing of leases or ledgers: the code under test must build
// and read the objects itself, as against the real server.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tests/unit/loopback_http_server.hpp"

namespace exportgate::testing {

class FakeKubeApi : public LoopbackHttpServer {
 public:
  // A fault answers a request with this status (and a Status body) instead of serving it.
  // Gets the method, path and bearer token ("" when none).
  using Fault = std::function<std::optional<int>(const std::string& method, const std::string& path,
                                                 const std::string& token)>;

  FakeKubeApi() {
    auto& http = server();
    http.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      if (faulted(req, res)) return;
      std::lock_guard lock(mu_);
      ++requests_["GET"];
      if (auto it = objects_.find(req.path); it != objects_.end())
        return reply(res, 200, it->second);
      nlohmann::json items = nlohmann::json::array();
      const std::string prefix = req.path + "/";
      for (const auto& [path, obj] : objects_) {
        if (path.starts_with(prefix) && path.find('/', prefix.size()) == std::string::npos)
          items.push_back(obj);
      }
      if (req.has_param("watch")) return reply(res, 410, status(410, "Expired", "no watch here"));
      if (items.empty() && !collections_.contains(req.path))
        return reply(res, 404, status(404, "NotFound", req.path + " not found"));
      reply(res, 200,
            {{"kind", "List"},
             {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
             {"items", items}});
    });
    http.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      if (faulted(req, res)) return;
      auto obj = nlohmann::json::parse(req.body);
      std::lock_guard lock(mu_);
      ++requests_["POST"];
      const std::string path = req.path + "/" + obj["metadata"].value("name", "");
      if (objects_.contains(path))
        return reply(res, 409, status(409, "AlreadyExists", path + " already exists"));
      obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
      objects_[path] = obj;
      reply(res, 201, obj);
    });
    http.Put(".*", [this](const httplib::Request& req, httplib::Response& res) {
      if (faulted(req, res)) return;
      auto obj = nlohmann::json::parse(req.body);
      std::lock_guard lock(mu_);
      ++requests_["PUT"];
      auto it = objects_.find(req.path);
      if (it == objects_.end()) return reply(res, 404, status(404, "NotFound", req.path));
      if (obj["metadata"].value("resourceVersion", "") !=
          it->second["metadata"].value("resourceVersion", ""))
        return reply(res, 409, status(409, "Conflict", "the object has been modified"));
      obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
      it->second = obj;
      reply(res, 200, obj);
    });
    start();
  }

  // A KubeClient configuration for this server authenticating with `token`.
  webhook::KubeConfig kube_config(const std::string& token = "") const {
    auto c = LoopbackHttpServer::kube_config();
    c.token = token;
    return c;
  }
  // Lists of this collection answer 200 even while it is empty.
  void add_collection(const std::string& path) {
    std::lock_guard lock(mu_);
    collections_[path] = true;
  }
  void set_fault(Fault f) {
    std::lock_guard lock(fault_mu_);
    fault_ = std::move(f);
  }
  std::optional<nlohmann::json> object(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(path);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  // Writes an object as another client would (bumps the resourceVersion).
  void put_object(const std::string& path, nlohmann::json obj) {
    std::lock_guard lock(mu_);
    obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
    objects_[path] = std::move(obj);
  }
  int requests(const std::string& method) const {
    std::lock_guard lock(mu_);
    auto it = requests_.find(method);
    return it == requests_.end() ? 0 : it->second;
  }

 private:
  static nlohmann::json status(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"},
            {"status", "Failure"},
            {"code", code},
            {"reason", reason},
            {"message", message}};
  }
  static void reply(httplib::Response& res, int code, const nlohmann::json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  }
  bool faulted(const httplib::Request& req, httplib::Response& res) {
    Fault f;
    {
      std::lock_guard lock(fault_mu_);
      f = fault_;
    }
    if (!f) return false;
    std::string token = req.get_header_value("Authorization");
    if (token.starts_with("Bearer ")) token = token.substr(7);
    auto code = f(req.method, req.path, token);
    if (!code) return false;
    reply(res, *code, status(*code, "InjectedFault", "injected by the test"));
    return true;
  }

  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;
  std::map<std::string, bool> collections_;
  std::map<std::string, int> requests_;
  uint64_t rv_ = 100;
  std::mutex fault_mu_;
  Fault fault_;
};

}  // namespace exportgate::testing
