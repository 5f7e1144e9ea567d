// An in-memory Kubernetes API for unit tests: objects by path with the API server's optimistic
// concurrency (POST creates or answers 409 AlreadyExists, PUT with a stale resourceVersion
// answers 409 Conflict, every write bumps the resourceVersion), collection lists, and faults
// injected per request; PATCH as a JSON merge patch or as server-side apply (lists of objects
// with a name or type are merged by that key, as the list-map fields of Kubernetes types are; a
// /status path writes only the status). It knows nothing of leases or ledgers: the code under test
// must build and read the objects itself, as against the real server.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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
      // A list across namespaces: /apis/g/v/R gathers /apis/g/v/namespaces/*/R/*.
      if (const auto slash = req.path.rfind('/'); items.empty() && slash != std::string::npos) {
        const std::string base = req.path.substr(0, slash) + "/namespaces/";
        const std::string resource = req.path.substr(slash + 1);
        for (const auto& [path, obj] : objects_) {
          if (!path.starts_with(base)) continue;
          const std::string rest = path.substr(base.size());  // ns/R/name
          const auto a = rest.find('/');
          const auto b = a == std::string::npos ? a : rest.find('/', a + 1);
          if (b != std::string::npos && rest.substr(a + 1, b - a - 1) == resource &&
              rest.find('/', b + 1) == std::string::npos)
            items.push_back(obj);
        }
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
    http.Patch(".*", [this](const httplib::Request& req, httplib::Response& res) {
      if (faulted(req, res)) return;
      auto patch = nlohmann::json::parse(req.body);
      const std::string type = req.get_header_value("Content-Type");
      std::lock_guard lock(mu_);
      ++requests_["PATCH"];
      patch_types_.push_back(type);
      const bool status = req.path.ends_with("/status");
      const std::string path = status ? req.path.substr(0, req.path.size() - 7) : req.path;
      auto it = objects_.find(path);
      if (it == objects_.end()) return reply(res, 404, status_of(404, "NotFound", path));
      nlohmann::json& obj = it->second;
      if (type == "application/apply-patch+yaml") {
        if (!req.has_param("fieldManager"))
          return reply(res, 400, status_of(400, "BadRequest", "fieldManager is required"));
        const std::string uid = patch["metadata"].value("uid", "");
        if (!uid.empty() && uid != obj["metadata"].value("uid", ""))
          return reply(res, 409, status_of(409, "Conflict", "uid mismatch"));
        if (status) {
          apply(obj["status"], patch.value("status", nlohmann::json::object()));
        } else {
          patch.erase("status");
          apply(obj, patch);
        }
      } else if (type == "application/merge-patch+json") {
        obj.merge_patch(patch);
      } else {
        return reply(res, 415, status_of(415, "UnsupportedMediaType", type));
      }
      obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
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
  // Content-Type of each PATCH served, in order.
  std::vector<std::string> patch_types() const {
    std::lock_guard lock(mu_);
    return patch_types_;
  }
  void delete_object(const std::string& path) {
    std::lock_guard lock(mu_);
    objects_.erase(path);
  }
  int requests(const std::string& method) const {
    std::lock_guard lock(mu_);
    auto it = requests_.find(method);
    return it == requests_.end() ? 0 : it->second;
  }

 private:
  // Server-side apply, reduced to what the tests write: maps merge, lists of objects keyed by
  // "name" or "type" merge by that key, anything else is replaced.
  static void apply(nlohmann::json& into, const nlohmann::json& patch) {
    if (!into.is_object() || !patch.is_object()) {
      into = patch;
      return;
    }
    for (const auto& [k, v] : patch.items()) {
      if (v.is_array() && into[k].is_array() && !v.empty() && v[0].is_object() &&
          (v[0].contains("name") || v[0].contains("type"))) {
        const char* key = v[0].contains("name") ? "name" : "type";
        for (const auto& item : v) {
          auto& list = into[k];
          auto same = std::find_if(list.begin(), list.end(), [&](const nlohmann::json& e) {
            return e.value(key, "") == item.value(key, "");
          });
          if (same == list.end()) {
            list.push_back(item);
          } else {
            apply(*same, item);
          }
        }
      } else {
        apply(into[k], v);
      }
    }
  }
  static nlohmann::json status_of(int code, const std::string& reason, const std::string& message) {
    return status(code, reason, message);
  }
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
  std::vector<std::string> patch_types_;
  uint64_t rv_ = 100;
  std::mutex fault_mu_;
  Fault fault_;
};

}  // namespace exportgate::testing
