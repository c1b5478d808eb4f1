// strider: the one header an application includes.
#pragma once

#include <strider/config.hpp>
#include <strider/core/device.hpp>
#include <strider/core/dtype.hpp>
#include <strider/core/error.hpp>
