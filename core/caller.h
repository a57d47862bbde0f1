// Who is calling. The server fills it from the authenticated connection;
// it is the only source of an event's actor.
#ifndef LEERLUS_CORE_CALLER_H_
#define LEERLUS_CORE_CALLER_H_

#include <set>
#include <string>

#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

struct Caller {
  // Stable principal name recorded as the actor of every event.
  std::string actor;
  v1::Role role = v1::ROLE_ADMIN;
  // ROLE_TEAM: the teams it acts for.
  std::set<std::string> team_ids;
  // ROLE_PARTNER: the partner it acts for.
  std::string partner_id;
  // The token the caller proved ("" for the development caller and the
  // server itself): every change re-checks it inside its decision, so a
  // token revoked before the change is decided changes nothing.
  std::string token_id = {};
};

// Whom quotas and request ids belong to: the caller's token, or, for a
// caller without one (the development caller, the server itself), its name.
inline const std::string& PrincipalOf(const Caller& caller) {
  return caller.token_id.empty() ? caller.actor : caller.token_id;
}

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_CALLER_H_
