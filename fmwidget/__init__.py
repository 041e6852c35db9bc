"""fmwidget: see inside a Keras 3 convolutional network, one feature map at a time."""

from .examples import top_examples
from .explain import grad_cam, saliency
from .export import ExportReport
from .featurevis import FilterVisualization, visualize_filter
from .geometry import GeometryError
from .maps import FeatureMaps, LayerInfo, extract
from .topexamples import TopExamples
from .validation import LayerNotFoundError

__version__ = "0.1.0"

__all__ = [
    "ExportReport",
    "FeatureMapWidget",
    "FeatureMaps",
    "FilterVisualization",
    "GeometryError",
    "LayerInfo",
    "LayerNotFoundError",
    "TopExamples",
    "__version__",
    "extract",
    "grad_cam",
    "saliency",
    "save_html",
    "top_examples",
    "visualize_filter",
]


def __getattr__(name: str):
    # The widget pulls in anywidget/ipywidgets: import it only when asked for.
    if name in ("FeatureMapWidget", "save_html"):
        from . import widget

        return getattr(widget, name)
    raise AttributeError(f"module 'fmwidget' has no attribute {name!r}")
