package raster

import "github.com/disintegration/imaging"

// SetOversample replaces the oversampling rule and filter for measurements.
func SetOversample(f func(int) int, fl imaging.ResampleFilter) { oversample, filter = f, fl }
