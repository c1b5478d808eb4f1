// strider: the one header an application includes.
#pragma once

#include <strider/config.hpp>
#include <strider/core/device.hpp>
#include <strider/core/dtype.hpp>
#include <strider/core/error.hpp>
#include <strider/core/ops.hpp>
#include <strider/core/random.hpp>
#include <strider/core/shape.hpp>
#include <strider/core/storage.hpp>
#include <strider/core/tensor.hpp>
#include <strider/layers/layers.hpp>
