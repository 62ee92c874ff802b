#include "ternion/server/api_error.h"

namespace ternion::server {

nlohmann::json ApiError::body() const {
  nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  return {{"error", e}};
}

ApiError bad_request(const std::string& message, const std::string& param) {
  return ApiError(400, message, "invalid_request_error", param);
}

ApiError model_not_found(const std::string& model) {
  return ApiError(404, "The model '" + model + "' does not exist (GET /v1/models lists the models served)",
                  "invalid_request_error", "model", "model_not_found");
}

ApiError unavailable(const std::string& message, const std::string& code) {
  return ApiError(503, message, "server_error", "", code);
}

}  // namespace ternion::server
