"""The camera: a USB camera (V4L2 through OpenCV), a video file or a folder of images.

`CameraConfig.source` picks the source (`drivers.camera.driver.source_kind`):

* a V4L2 device, `/dev/video0` (or a udev link under /dev) or an index `0`: opened with
  `cv2.VideoCapture(source, cv2.CAP_V4L2)`, MJPG requested, width, height and fps set, manual or
  auto exposure set. The camera paces itself.
* a video file (`cv2.VideoCapture(path)`, FFmpeg): decoded and re-encoded, paced at rate_hz.
* a folder of `.jpg`/`.jpeg`/`.png` images, sorted by name: JPEGs are passed through byte for byte
  (their EXIF ExposureTime, as the digital twin writes it, gives the exposure), PNGs are encoded;
  paced at rate_hz.

Exposure (`CameraFrame.exposure_s`): the config's manual `exposure_us` when set; otherwise what the
source reports (V4L2 `CAP_PROP_EXPOSURE`, read at most once a second; a JPEG's EXIF ExposureTime);
otherwise 0.

Modules:

- `drivers.camera.source`: what the capture thread asks of a source (`FrameSource`, `RawFrame`)
  and the errors that tell an outage from one bad frame;
- `drivers.camera.files`: the image folder and video file sources, and image decoding (EXIF
  exposure);
- `drivers.camera.v4l2`: the V4L2 camera through OpenCV (controls and their units);
- `drivers.camera.timing`: the frame times of a V4L2 camera (buffer timestamps or host clock);
- `drivers.camera.driver`: `CameraDriver`, the capture thread with its queue, outages and
  status, and the source a config names (`make_source`).
"""
