"""Camera media, one capability per module.

Cheap cameras upload over FTP, and an upload can be empty, cut short, or not what its name says; a
recording can be long and 4K. Anything unusable raises `errors.MediaError` with a reason precise enough
to put in the log row that says why the file was rejected.

* `files`: what a file is by its name (image, video, MIME type), its size, temporary files beside it;
* `image`: checking an upload's image bytes cheaply and decoding them once;
* `video`: probing a recording and decoding its frames, scaled down and sampled over its whole length;
* `render`: thumbnails with boxes drawn, and a recording's first frame as a snapshot;
* `encode`: event clips as H.264 mp4, encoded frame by frame.
"""
