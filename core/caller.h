// Who is calling. The server fills it from the authenticated connection;
// it is the only source of an event's actor.
#ifndef LEERLUS_CORE_CALLER_H_
#define LEERLUS_CORE_CALLER_H_

#include <string>

namespace leerlus::core {

struct Caller {
  // Stable principal name recorded as the actor of every event.
  std::string actor;
};

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_CALLER_H_
